"""vidpipe doctor: what works and what is missing on this machine."""

from __future__ import annotations

from pathlib import Path

from vidpipe.ops.doctor import run_checks


def register(subparsers) -> None:
    p = subparsers.add_parser("doctor", help="check models, API key, GPU, fonts, file watching")
    p.add_argument("project", type=Path, nargs="?", help="also check this project's settings")
    p.set_defaults(handler=cmd_doctor)


def cmd_doctor(args) -> int:
    problems = 0
    for check in run_checks(args.project):
        mark = {"ok": "ok  ", "warn": "warn", "fail": "FAIL"}[check.level]
        print(f"[{mark}] {check.name}: {check.detail}")
        if check.remedy:
            print(f"       → {check.remedy}")
        problems += check.level == "fail"
    return 1 if problems else 0
