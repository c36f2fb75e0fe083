"""vidpipe retag PROJECT [--manifest NAME] [--dry-run | --undo]."""

from __future__ import annotations

from pathlib import Path

from vidpipe.errors import VidpipeError
from vidpipe.printable import printable


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "retag",
        help="renumber tags on purpose (closing holes), rewriting them in every text",
        description="Tags never move by themselves. retag gives them again in the seed's order "
        "(parent sort_order, then detection confidence), per type from 01, and "
        "rewrites the old tags wherever they stand in names, descriptions and "
        "prompts: one change, undone whole by --undo (or ctrl+z in vidpipe-tui).",
    )
    p.add_argument("project", type=Path)
    p.add_argument("--manifest", action="append", help="only this manifest (repeatable)")
    group = p.add_mutually_exclusive_group()
    group.add_argument("--dry-run", action="store_true", help="show old → new, write nothing")
    group.add_argument("--undo", action="store_true", help="undo the newest retag")
    p.set_defaults(handler=cmd_retag)


def chosen_manifests(names: list[str] | None) -> list:
    from vidpipe.store.models import Manifest

    manifests = list(Manifest.select().order_by(Manifest.name))
    if not names:
        return manifests
    known = {m.name: m for m in manifests}
    missing = [name for name in names if name not in known]
    if missing:
        raise VidpipeError(
            f"no manifest {', '.join(printable(n, True) for n in missing)}; "
            f"manifests: {', '.join(known) or 'none yet'}"
        )
    return [known[name] for name in dict.fromkeys(names)]


def cmd_retag(args) -> int:
    from vidpipe.review.retag import apply_retag, plan_retags, preview_lines, undo_retag
    from vidpipe.store.session import open_project

    with open_project(args.project):
        manifests = chosen_manifests(args.manifest)
        if args.undo:
            restored = undo_retag(manifests)
            for edit in restored:
                print(f"  {edit.new_value:>10} → {edit.old_value}")
            print(f"undid the retag: {len(restored)} tag(s) and the texts naming them restored")
            return 0
        if args.dry_run:
            plans = plan_retags(manifests)
        else:
            plans, change = apply_retag(manifests)
        for line in preview_lines(plans):
            print(line)
        changed = sum(len(plan.changed) for plan in plans)
        if args.dry_run:
            print(f"dry run: {changed} tag(s) would change; nothing written")
        elif change is None:
            print("nothing to renumber: the tags already follow the seed's order")
        else:
            print(
                f"{changed} tag(s) renumbered as one change; `vidpipe retag "
                f"{printable(str(args.project), True)} --undo` undoes it"
            )
    return 0
