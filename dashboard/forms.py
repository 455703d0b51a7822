"""The dashboard's forms: each POST carries a CSRF token (Flask-WTF)."""

from flask_wtf import FlaskForm
from wtforms import PasswordField, StringField
from wtforms.validators import DataRequired, Length

from dashboard.users import MAX_PASSWORD


class LoginForm(FlaskForm):
    """A user name and password."""

    name = StringField(
        "User name",
        validators=[DataRequired(), Length(max=64)],
        render_kw={"autocomplete": "username"},
    )
    password = PasswordField(
        "Password",
        validators=[DataRequired(), Length(max=MAX_PASSWORD)],
        render_kw={"autocomplete": "current-password"},
    )


class LogoutForm(FlaskForm):
    """Nothing but the token: logging out is a POST, so no other site can do it."""
