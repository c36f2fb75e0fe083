"""Veo reference sets: ``DIR/<handle>.json`` = ``{"handle", "prompt", "config"}`` per subject.

``config`` is what ``google.genai.types.GenerateVideosConfig.model_validate()`` takes as it is:
``reference_images`` of type ASSET, the primary first, each image inlined as base64 (the SDK
decodes a base64 string into ``Image.image_bytes``). A team loads it and adds its shot::

    config = types.GenerateVideosConfig.model_validate(doc["config"])
    client.models.generate_videos(model=..., prompt=shot_text, config=config)

The dict is written by hand, not by the SDK: exporting must not need google-genai.
"""

from __future__ import annotations

import base64

from vidpipe.review.reference_sets.common import SetContext, json_bytes, readable_images
from vidpipe.review.reference_sets.images import encode_jpeg
from vidpipe.review.reference_sets.output import ExportFolder
from vidpipe.review.reference_sets.subjects import ReferenceSubject, file_stems

#: Veo takes up to 3 ASSET reference images of one subject in a request (google-genai
#: ``GenerateVideosConfig.reference_images`` with ``VideoGenerationReferenceImage(
#: reference_type="ASSET")``; recorded in DESIGN.md, "Reference images for video tools").
VEO_MAX_REFERENCES = 3
#: Our conservative choice, not a documented Veo limit: 1024 px on the long side holds a
#: face's or a prop's detail at video resolutions and keeps each inlined image well under
#: 1 MB as JPEG at quality 90 (JPEG and PNG are the formats Veo's image inputs name).
VEO_MAX_SIDE = 1024
VEO_JPEG_QUALITY = 90
VEO_MIME_TYPE = "image/jpeg"


def veo_document(subject: ReferenceSubject, images: list[bytes]) -> dict:
    return {
        "handle": subject.handle,
        "prompt": subject.prompt,
        "config": {
            "reference_images": [
                {
                    "image": {
                        "image_bytes": base64.b64encode(data).decode("ascii"),
                        "mime_type": VEO_MIME_TYPE,
                    },
                    "reference_type": "ASSET",
                }
                for data in images
            ]
        },
    }


def write_veo(context: SetContext, subjects: list[ReferenceSubject], folder: ExportFolder) -> None:
    stems = file_stems([subject.handle for subject in subjects])
    for subject in subjects:
        images = [
            encode_jpeg(image, VEO_JPEG_QUALITY).data
            for _, image in readable_images(context, subject, VEO_MAX_SIDE, VEO_MAX_REFERENCES)
        ]
        if not images:
            context.report.problems.append(f"{subject.handle}: no readable image; not exported")
            continue
        folder.write(f"{stems[subject.handle]}.json", json_bytes(veo_document(subject, images)))
        context.report.subjects += 1
