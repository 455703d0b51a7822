/**
 * The banner's CSS, injected once as <style id="consentry-style"> (one request in all).
 * Fixed-position layers only, so nothing on the page moves; AA contrast; visible focus;
 * equal first-layer buttons (one grid, one style), one column below 560 px.
 */

const CSS = `#consentry,#consentry *{box-sizing:border-box;font-family:system-ui,-apple-system,"Segoe UI",Roboto,Helvetica,Arial,sans-serif;letter-spacing:normal;text-transform:none}
#consentry{font-size:15px;line-height:1.5;color:#1f2328}
#consentry h2{margin:0 0 6px;font-size:18px;line-height:1.3;font-weight:700;color:#1f2328}
#consentry h3{margin:0;font-size:15px;font-weight:700}
#consentry p{margin:0 0 12px}
#consentry a{color:#0b4fc4;text-decoration:underline}
#consentry button{font:inherit;font-weight:600;margin:0;cursor:pointer;border-radius:8px}
#consentry :focus-visible{outline:3px solid #0b4fc4;outline-offset:2px}
.cy-banner{position:fixed;z-index:2147483600;left:16px;right:16px;bottom:16px;max-width:720px;max-height:calc(100vh - 32px);overflow:auto;margin:0 auto;padding:20px;background:#fff;border:1px solid #d0d7de;border-radius:12px;box-shadow:0 10px 30px rgba(0,0,0,.2)}
.cy-grid{display:grid;grid-template-columns:repeat(3,1fr);gap:8px}
.cy-b{padding:10px 12px;border:2px solid #1e40af;background:#1e40af;color:#fff}
.cy-b:hover{background:#172f86;border-color:#172f86}
.cy-rem{display:flex;align-items:center;gap:8px;margin:0 0 14px;cursor:pointer}
.cy-rem input{width:18px;height:18px;margin:0;accent-color:#1e40af}
.cy-back{position:fixed;z-index:2147483601;inset:0;display:flex;align-items:center;justify-content:center;padding:16px;background:rgba(15,23,42,.6)}
#consentry-prefs{display:flex;flex-direction:column;width:100%;max-width:660px;max-height:100%;background:#fff;border-radius:12px;box-shadow:0 10px 40px rgba(0,0,0,.3)}
.cy-head,.cy-foot{padding:14px 20px}
.cy-head{display:flex;align-items:center;justify-content:space-between;gap:12px;border-bottom:1px solid #d0d7de}
.cy-head h2{margin:0!important}
.cy-x{width:40px;height:40px;flex:none;border:0;background:none;color:#1f2328;font-size:26px!important;line-height:1}
.cy-x:hover{background:#eef1f4}
.cy-body{overflow:auto;padding:16px 20px}
.cy-foot{border-top:1px solid #d0d7de}
.cy-cat{margin:0 0 10px;padding:12px 14px;border:1px solid #d0d7de;border-radius:8px}
.cy-row{display:flex;align-items:center;justify-content:space-between;gap:12px}
.cy-row span{margin-left:auto;font-size:13px;color:#57606a}
#consentry .cy-cat p{margin:4px 0 6px;font-size:14px;color:#57606a}
.cy-sw{appearance:none;-webkit-appearance:none;position:relative;flex:none;width:44px;height:24px;margin:0;border-radius:12px;background:#6e7781;cursor:pointer;transition:background .15s}
.cy-sw:before{content:"";position:absolute;top:3px;left:3px;width:18px;height:18px;border-radius:50%;background:#fff;transition:transform .15s}
.cy-sw:checked{background:#1e40af}
.cy-sw:checked:before{transform:translateX(20px)}
.cy-sw:disabled{opacity:.6;cursor:not-allowed}
#consentry [hidden]{display:none!important}
.cy-ok{border-left:4px solid #1a7f37!important}
.cy-more{padding:2px 0;border:0;background:none;color:#0b4fc4;font-size:14px!important}
.cy-more:before{content:"\\25B8  "}
.cy-more[aria-expanded=true]:before{content:"\\25BE  "}
.cy-cat table{width:100%;margin-top:8px;border-collapse:collapse;font-size:13px}
.cy-cat th,.cy-cat td{padding:5px 6px;border-bottom:1px solid #eaeef2;text-align:left;vertical-align:top;overflow-wrap:break-word}
.cy-cat th{background:#f6f8fa;font-weight:600}
.cy-dock{position:fixed;z-index:2147483500;left:16px;bottom:16px;display:flex;flex-direction:column;align-items:flex-start;gap:8px;max-width:calc(100% - 32px)}
.cy-set{padding:7px 14px;border:1px solid #1e40af;background:#fff;color:#1e40af;font-size:14px!important;border-radius:999px!important;box-shadow:0 2px 8px rgba(0,0,0,.15)}
.cy-note{margin:0!important;padding:8px 12px;background:#fff;border:1px solid #d0d7de;border-radius:8px;font-size:14px;box-shadow:0 2px 8px rgba(0,0,0,.15)}
@media (max-width:560px){.cy-grid{grid-template-columns:1fr}.cy-banner{left:8px;right:8px;bottom:8px;max-height:calc(100vh - 16px);padding:16px;font-size:14px}.cy-back{padding:8px}.cy-b{padding:8px 12px}.cy-foot{grid-template-columns:1fr 1fr}.cy-foot [data-cy=save]{grid-column:1/-1}.cy-head,.cy-foot,.cy-body{padding-left:14px;padding-right:14px}.cy-cat thead{display:none}.cy-cat tr{display:block;padding:6px 0;border-bottom:1px solid #eaeef2}.cy-cat td{display:block;padding:1px 0;border:0}.cy-cat td:before{content:attr(data-label) ": ";font-weight:600}}
@media (prefers-reduced-motion:reduce){#consentry *{transition:none}}`;

/** Add the stylesheet once (a second copy of the script finds it present). */
export function injectStyle(doc) {
  if (doc.getElementById('consentry-style')) return;
  const style = doc.createElement('style');
  style.id = 'consentry-style';
  style.textContent = CSS;
  doc.head.appendChild(style);
}
