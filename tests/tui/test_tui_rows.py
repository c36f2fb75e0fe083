"""The grid's default order is the manifest's: each image, then its crops by confidence."""

from vidpipe.store.models import Asset, AssetType, Manifest, Source
from tui.rows import load_rows
from tui.widgets.asset_table import sort_rows


def test_default_order_puts_each_image_before_its_crops(session):
    manifest = Manifest.create(name="m", folder="m")

    def asset(name, path, parent=None, confidence=None, order=0):
        return Asset.create(
            manifest=manifest,
            name=name,
            file_path=path,
            content_hash=name,
            asset_type=AssetType.CHARACTER,
            sort_order=order,
            source=Source.EXTRACTED if parent else Source.UPLOADED,
            source_asset=parent,
            extraction_key=name if parent else None,
            detection_confidence=confidence,
        )

    second = asset("b", "m/b.jpg")
    first = asset("a", "m/a.jpg")
    # Crop files live under .vidpipe/crops/, which sorts before "m/": path order would put
    # every crop first, scattered by hash.
    asset("b low", ".vidpipe/crops/00.jpg", second, 0.5)
    asset("a face", ".vidpipe/crops/ff.jpg", first, 0.6)
    asset("b high", ".vidpipe/crops/11.jpg", second, 0.9)
    last = asset("z first by order", "m/z.jpg", order=-1)

    names = [row.name for row in sort_rows(load_rows(manifest.id), "sort_order")]
    assert names == [last.name, "a", "a face", "b", "b high", "b low"]
