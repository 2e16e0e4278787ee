#!/usr/bin/env python3
"""Corpus CER and term recall of `asr-router eval --json` output over the terminology set's
code-switched sentences, split by sentence: term_mx01-08 (where knobs may be chosen) and
term_mx09-15 (held out), then all. Rates sum errors and reference units over the items.

usage: eval_split.py OUT.json [OUT2.json ...]
"""
import json
import sys


def main() -> None:
    for path in sys.argv[1:]:
        items = [i for i in json.load(open(path))["items"]
                 if i["group"] == "zh+en" and i["id"].startswith("term_mx")]
        parts = []
        for name, keep in [("mx01-08", lambda i: i["id"][7:9] <= "08"),
                           ("mx09-15", lambda i: i["id"][7:9] >= "09"),
                           ("all", lambda i: True)]:
            its = [i for i in items if keep(i)]
            units = sum(i["raw"]["units"] for i in its)
            terms = sum(i["raw"]["terms"] for i in its)
            raw = sum(i["raw"]["errors"] for i in its)
            rev = sum(i["reviewed"]["errors"] for i in its)
            found_raw = sum(i["raw"]["terms_found"] for i in its)
            found_rev = sum(i["reviewed"]["terms_found"] for i in its)
            parts.append(f"{name}: n={len(its)} CER raw {100 * raw / units:.1f} reviewed {100 * rev / units:.1f}"
                         f" recall {100 * found_raw / terms:.1f} -> {100 * found_rev / terms:.1f}")
        print(path, " | ".join(parts))


if __name__ == "__main__":
    main()
