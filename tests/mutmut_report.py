"""Print `make mutate`'s outcome per file: killed, survived, timeouts, no tests.

Reads the verdicts mutmut leaves in mutants/**/*.meta; run from the project root.
"""

import json
import sys
from collections import Counter
from pathlib import Path

from mutmut.stats import status_by_exit_code

COLUMNS = ("killed", "survived", "timeout", "no tests", "suspicious", "not checked")


def main(root: Path = Path("mutants")) -> int:
    rows, total = [], Counter()
    for meta in sorted(root.rglob("*.py.meta")):
        verdicts = json.loads(meta.read_text())["exit_code_by_key"].values()
        counts = Counter(status_by_exit_code[code] for code in verdicts)
        if counts:
            rows.append((str(meta.relative_to(root))[: -len(".meta")], counts))
            total += counts
    width = max([len(name) for name, _ in rows] + [5])
    print(f"{'file':{width}}  " + "  ".join(f"{c:>11}" for c in COLUMNS))
    for name, counts in [*rows, ("total", total)]:
        print(f"{name:{width}}  " + "  ".join(f"{counts[c]:>11}" for c in COLUMNS))
    return 0 if rows else 1


if __name__ == "__main__":
    sys.exit(main())
