"""vidpipe models pull | import FILE | list."""

from __future__ import annotations

from pathlib import Path

from vidpipe.config.settings import load_settings


def register(subparsers) -> None:
    p = subparsers.add_parser("models", help="model weights: pull, import, list")
    sub = p.add_subparsers(dest="models_command", metavar="ACTION", required=True)

    pull = sub.add_parser(
        "pull",
        help="download the configured YOLO weights (needs network) and "
        "install the offline face weights",
    )
    pull.add_argument("--project", type=Path, help="use this project's settings")
    pull.add_argument("--url", help="download from this URL instead (a mirror; file:// works)")
    pull.set_defaults(handler=cmd_pull)

    imp = sub.add_parser("import", help="install weights copied in by hand (air-gapped machines)")
    imp.add_argument("file", type=Path)
    imp.add_argument("--name", help="install under this file name (default: the file's own)")
    imp.add_argument("--project", type=Path, help="use this project's settings")
    imp.set_defaults(handler=cmd_import)

    lst = sub.add_parser("list", help="what the stages will use, and what is installed")
    lst.add_argument("--project", type=Path, help="use this project's settings")
    lst.set_defaults(handler=cmd_list)


def cmd_pull(args) -> int:
    from vidpipe.vision.weights import ensure_dlib_weights, pull_yolo_weights

    settings = load_settings(args.project)
    target = pull_yolo_weights(settings, url=args.url)
    print(f"YOLO weights: {target}")
    if settings.face_model == "Dlib":
        print(f"Dlib face weights: {ensure_dlib_weights(settings)}")
    return 0


def cmd_import(args) -> int:
    from vidpipe.vision.weights import import_weights

    settings = load_settings(args.project)
    target = import_weights(settings, args.file, args.name)
    print(f"installed {target}")
    if target.suffix == ".pt" and target.name != Path(settings.yolo_weights).name:
        print(
            f"note: the pipeline uses {settings.yolo_weights!r}; to use this file set "
            f'yolo_weights = "{target.name}" in vidpipe.toml or VIDPIPE_YOLO_WEIGHTS'
        )
    return 0


def cmd_list(args) -> int:
    from vidpipe.vision.weights import list_models

    settings = load_settings(args.project)
    print(f"models folder: {settings.models_dir}")
    for row in list_models(settings):
        print(f"  {row['model']:<28} {row['configured']:<20} {row['status']}")
    return 0
