"""The whole pipeline on shipped photos, through the CLI entry point."""

import json
import shutil

from vidpipe.cli import main


def test_process_and_export_through_cli(tmp_path, bus_jpg, gracehopper_jpg, capsys):
    project = tmp_path / "proj"
    assert main(["init", str(project)]) == 0
    (project / "characters").mkdir()
    shutil.copy(bus_jpg, project / "bus.jpg")
    shutil.copy(gracehopper_jpg, project / "characters" / "grace.jpg")

    assert main(["process", str(project)]) == 0
    assert main(["export", str(project), "-o", str(tmp_path / "out.json")]) == 0

    data = json.loads((tmp_path / "out.json").read_text())
    by_name = {m["name"]: m for m in data["manifests"]}
    assert set(by_name) == {"proj", "characters"}
    grace = by_name["characters"]["assets"][0]
    assert grace["type"] == "CHARACTER" and grace["tag"] == "CHAR_01"
    for manifest in data["manifests"]:
        assert manifest["contact_sheets"], "every manifest gets a contact sheet"
        for sheet in manifest["contact_sheets"]:
            assert (project / sheet).is_file()
