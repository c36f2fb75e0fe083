"""textual-image's Kitty graphics and Sixel widgets, made to send less.

Kitty graphics: textual-image deletes the image from the terminal and transmits it again (a PNG,
tens of KB) every time the widget renders, even unchanged. Here a transmitted image stays in the
terminal under its id and is placed again by that id (Unicode placeholders naming the id), for
the last ``KEPT`` images; older ones are deleted from the terminal.

Sixel has no ids, so a picture shown again must be sent again; what is kept is the encoding
(textual-image keeps only the last one, and loses it whenever the picture changes).

Import only through ``tui.graphics.image_widget_class`` (it imports textual-image safely).
"""

from __future__ import annotations

from collections import OrderedDict

from textual_image.renderable.tgp import Image as TGPRenderable
from textual_image.widget import SixelImage, TGPImage
from textual_image.widget._base import Image as BaseImage
from textual_image.widget.sixel import _CachedSixels, _ImageSixelImpl, _NoopRenderable

KEPT = 32


class _Kept(OrderedDict):
    """Least recently used first; ``drop`` is called on what falls out."""

    def __init__(self, drop=None):
        super().__init__()
        self._drop = drop

    def keep(self, key, value) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > KEPT:
            _, old = self.popitem(last=False)
            if self._drop is not None:
                self._drop(old)

    def use(self, key):
        value = self.get(key)
        if value is not None:
            self.move_to_end(key)
        return value


#: (id of the PIL image, styled size) -> (image, renderable that holds its terminal id)
_transmitted = _Kept(drop=lambda kept: kept[1].cleanup())


class KeptTGPImage(TGPImage, Renderable=TGPRenderable):
    """Transmits each picture once; placing it again costs only the placeholder cells."""

    @BaseImage.image.setter  # type: ignore[attr-defined]
    def image(self, value) -> None:
        self._renderable = None  # the cache owns the renderables: the terminal keeps the image
        BaseImage.image.fset(self, value)

    def render(self):
        if not self._image:
            return ""
        size = self._get_styled_size()
        key = (id(self._image), size)
        kept = _transmitted.use(key)
        if kept is None or kept[0] is not self._image:
            kept = (self._image, self._Renderable(self._image, *size))
            _transmitted.keep(key, kept)
        self._renderable = None
        return kept[1]


#: (id of the PIL image, crop, size, cell size, options, background) -> (image, Sixel data)
_encoded = _Kept()


class _KeptSixelImpl(_ImageSixelImpl):
    def render_lines(self, crop):
        from textual_image._terminal import get_cell_size

        if self.image is not None:
            parts = (
                crop,
                self.content_size,
                get_cell_size(),
                self._sixel_options,
                self._get_background_rgba(),
            )
            kept = _encoded.use((id(self.image), *parts))
            if kept is not None and kept[0] is self.image:
                self._cached_sixels = _CachedSixels(self.image, *parts, kept[1])
            lines = super().render_lines(crop)
            if self._cached_sixels is not None and self._cached_sixels.image is self.image:
                _encoded.keep(
                    (id(self.image), *parts), (self.image, self._cached_sixels.sixel_data)
                )
            return lines
        return super().render_lines(crop)


class KeptSixelImage(SixelImage, Renderable=_NoopRenderable):
    """Encodes each picture once per size."""

    def compose(self):
        yield _KeptSixelImpl(self.image, self._sixel_options)
