"""DeepModel.evaluate's arrays: the layouts it accepts, and a clear DptError for each mistake."""

import numpy as np
import pytest

from dptensor.errors import DptError
from dptensor.infer.inputs import frame_inputs

T = np.array([0, 1, 1])
C = np.random.default_rng(0).random((2, 3, 3)) * 5.0
BOX = np.eye(3) * 10.0


@pytest.mark.parametrize("coord", [C, C.reshape(2, 9)])
def test_frames_as_nat_x_3_or_flat_rows(coord):
    c, b, t = frame_inputs(coord, BOX, T, rcut=6.0)
    np.testing.assert_array_equal(c, C)
    assert b.shape == (2, 3, 3) and t.shape == (2, 3) and t.dtype == np.int64


@pytest.mark.parametrize("coord", [C[0], C[0].ravel()])
def test_one_frame(coord):
    c, _, _ = frame_inputs(coord, BOX.ravel(), T.astype(float))
    np.testing.assert_array_equal(c, C[:1])


@pytest.mark.parametrize("coord, box, atype, message", [
    (C[:, :, :2], BOX, T, r"coord has shape \(2, 3, 2\); for the 3 atoms of atype expected \(nf, 3, 3\)"),
    (C[:, :-1], BOX, T, r"coord has shape \(2, 2, 3\)"),
    (C, BOX, T[:-1], r"coord has shape \(2, 3, 3\); for the 2 atoms"),
    (C, BOX, np.zeros((3, 3), int), r"atype has shape \(3, 3\); expected \(3,\) or \(2, 3\)"),
    (C, BOX, T + 0.5, "integer type indices"),
    (C, np.ones((2, 8)), T, r"box has shape \(2, 8\); expected \(2, 3, 3\), \(2, 9\)"),
    (C, np.zeros((3, 3)), T, "frame 0 has zero volume"),
    (C, np.stack([BOX, BOX * np.nan]), T, "box: frame 1 is not finite"),
    (np.where(np.arange(18).reshape(2, 3, 3) == 13, np.nan, C), BOX, T, "nan at frame 1, atom 1"),
])
def test_mistakes_name_the_argument(coord, box, atype, message):
    with pytest.raises(DptError, match=message):
        frame_inputs(coord, box, atype, rcut=6.0)


def test_cell_lengths_given_as_a_box_are_refused_not_searched():
    lengths = np.array([[12.4, 12.5, 12.6], [12.5, 12.4, 12.6], [12.6, 12.5, 12.4]])  # 3 frames' lengths
    coord = np.zeros((3, 192, 3))
    with pytest.raises(DptError, match="nearly flat .*cell lengths alone are not a box"):
        frame_inputs(coord, lengths, np.zeros(192, int), rcut=6.0)
    frame_inputs(coord, np.eye(3) * 12.4, np.zeros(192, int), rcut=6.0)  # the real box passes
    frame_inputs(np.zeros((1, 1, 3)), np.eye(3), [0], rcut=9.0)  # a small cell of one atom passes
