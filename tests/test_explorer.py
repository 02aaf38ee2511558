"""The embedding explorer's sprite sheets: each image in its cell, row-major."""

import numpy as np
import pytest

from convviz.explorer import sprite_sheet


def test_sprite_sheet_places_each_image_in_its_cell():
    images = np.stack([np.full((4, 4, 1), i / 10, np.float32) for i in range(5)])  # gray levels 0..0.4
    sheet, cols = sprite_sheet(images, size=2)
    assert cols == 3 and sheet.shape == (2 * 2, 3 * 2, 3) and sheet.dtype == np.uint8
    for i in range(5):
        r, c = divmod(i, cols)
        cell = sheet[r * 2 : (r + 1) * 2, c * 2 : (c + 1) * 2]
        assert (cell == round(i / 10 * 255)).all(), i
    assert (sheet[2:, 4:] == 0).all()  # the empty last cell


def test_sprite_sheet_keeps_rgb_and_refuses_bad_input():
    rgb = np.zeros((1, 3, 3, 3), np.uint8)
    rgb[..., 0] = 200
    sheet, cols = sprite_sheet(rgb, size=3)
    assert cols == 1 and (sheet[..., 0] == 200).all() and (sheet[..., 1:] == 0).all()
    with pytest.raises(ValueError, match=r"images must be \(N, H, W\) or \(N, H, W, C\) with N >= 1, got shape \(3,\)"):
        sprite_sheet(np.zeros(3), size=2)
