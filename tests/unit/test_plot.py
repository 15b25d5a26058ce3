"""``dpt plot`` (learning curves) and ``dpt test --plot`` (parity plots): the files are made, are
valid images of the expected layout, and the numbers behind them are the right ones."""

import math
import os

import numpy as np
import pytest
from ecosystem_helpers import one_torch_thread, png_size, save_model  # noqa: F401 (fixture)

from dptensor.cli.main import main
from dptensor.errors import DataError

FIXTURES = os.path.join(os.path.dirname(os.path.dirname(__file__)), "fixtures", "data")
pytest.importorskip("matplotlib")

LCURVE = """\
#         step     rmse_val     rmse_trn   rmse_e_val   rmse_e_trn   rmse_f_val   rmse_f_trn           lr
             0   2.6707e+01   2.6707e+01   7.6824e-03   7.6824e-03   8.4454e-01   8.4454e-01   1.0000e-03
            10   1.2411e+01   1.1982e+01          nan   3.5474e-04   8.4399e-01   8.1485e-01   2.1544e-04
            20   5.8084e+00   5.6083e+00   3.3517e-03   1.1274e-03   8.4393e-01   8.1485e-01   4.6416e-05
"""
# a restart from the checkpoint of step 10 appends its own rows from step 10 on
RESTART_ROWS = """\
            10   1.2000e+01   1.1000e+01   1.0000e-03   3.0000e-04   8.0000e-01   8.0000e-01   2.1544e-04
            20   5.0000e+00   4.0000e+00   1.0000e-03   1.0000e-03   7.0000e-01   7.0000e-01   4.6416e-05
            30   2.0000e+00   1.0000e+00   1.0000e-03   1.0000e-03   6.0000e-01   6.0000e-01   1.0000e-05
"""


@pytest.fixture
def lcurve(tmp_path):
    path = tmp_path / "lcurve.out"
    path.write_text(LCURVE)
    return path


def test_read_lcurve_columns(lcurve):
    from dptensor.plot import read_lcurve

    cols = read_lcurve(lcurve)
    assert next(iter(cols)) == "step" and list(cols)[-1] == "lr"
    np.testing.assert_array_equal(cols["step"], [0, 10, 20])
    assert math.isnan(cols["rmse_e_val"][1]) and cols["rmse_f_trn"][2] == pytest.approx(0.81485)


def test_restart_rows_replace_the_earlier_ones(lcurve):
    from dptensor.plot import read_lcurve

    with open(lcurve, "a") as fh:
        fh.write(RESTART_ROWS)
    cols = read_lcurve(lcurve)
    np.testing.assert_array_equal(cols["step"], [0, 10, 20, 30])
    np.testing.assert_allclose(cols["rmse_trn"], [26.707, 11.0, 4.0, 1.0])


def test_panels_group_train_and_validation():
    from dptensor.plot.lcurve import lcurve_panels

    nan = np.full(3, np.nan)
    one = np.ones(3)
    cols = {"step": one, "rmse_val": one, "rmse_trn": one, "rmse_e_val": nan, "rmse_e_trn": one,
            "rmse_h_val": nan, "rmse_h_trn": nan, "lr": one}
    panels = dict(lcurve_panels(cols))
    assert list(panels) == ["rmse", "rmse_e", "lr"]  # the all-nan Hessian panel is left out
    assert panels["rmse"] == {"val": "rmse_val", "trn": "rmse_trn"}
    assert panels["rmse_e"] == {"trn": "rmse_e_trn"}


def test_dpt_plot_writes_a_png(lcurve, tmp_path, capsys):
    out = tmp_path / "curves.png"
    assert main(["plot", str(lcurve), "-o", str(out)]) == 0
    assert str(out) in capsys.readouterr().out
    width, height = png_size(out)
    # total, energy, force and lr panels: a 2 x 2 grid of 4.2 x 3.4 inch panels at 150 dpi
    assert abs(width - 2 * 4.2 * 150) < 40 and abs(height - 2 * 3.4 * 150) < 40
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".curves")]  # no temp file left


def test_dpt_plot_default_output_name(monkeypatch):
    import dptensor.plot

    calls = []
    monkeypatch.setattr(dptensor.plot, "plot_lcurve", lambda *args: calls.append(args))
    assert main(["plot"]) == 0
    assert main(["plot", "run/my.lcurve"]) == 0
    assert calls == [("lcurve.out", "lcurve.png"), ("run/my.lcurve", "run/my.png")]


@pytest.mark.parametrize("text, message", [
    ("", "no header line"),
    ("# step rmse_trn lr\n 0 1.0\n", "2 values, but the header names 3"),
    ("# step rmse_trn lr\n", "no rows yet"),
    ("# rmse_trn lr\n 1.0 2.0\n", "does not start with 'step'"),
])
def test_bad_lcurve_files_are_named(tmp_path, text, message):
    from dptensor.plot import read_lcurve

    path = tmp_path / "lcurve.out"
    path.write_text(text)
    with pytest.raises(DataError, match=message):
        read_lcurve(path)


def test_plot_errors_are_one_line(tmp_path, lcurve, capsys):
    assert main(["plot", str(tmp_path / "missing.out")]) == 2
    assert "cannot read the learning curve" in capsys.readouterr().err
    assert main(["plot", str(lcurve), "-o", str(tmp_path / "curves.jpeg")]) == 1
    assert ".png" in capsys.readouterr().err


@pytest.mark.usefixtures("one_torch_thread")
def test_dpt_test_parity_plot(tmp_path, capsys):
    pytest.importorskip("dptensor_pt", reason="evaluating a .dpt file needs PyTorch")
    model = save_model(tmp_path, "ener")
    out = tmp_path / "parity.png"
    water = os.path.join(FIXTURES, "water_ener")
    assert main(["test", "-m", model, "-s", water, "--plot", str(out)]) == 0
    assert "parity plot written" in capsys.readouterr().out
    width, height = png_size(out)
    assert width > 3 * 3.9 * 150 - 40 and height > 3.9 * 150 - 40  # energy, energy/atom, force


@pytest.mark.usefixtures("one_torch_thread")
def test_parity_panels_hold_the_compared_values(tmp_path):
    pytest.importorskip("dptensor_pt", reason="evaluating a .dpt file needs PyTorch")
    from dptensor.infer import DeepModel
    from dptensor.plot import parity_panels, plot_parity
    from dptensor.testing import quantities_for
    from dptensor.testing import test_model as run_test

    model = DeepModel(save_model(tmp_path, "ener"))
    results = run_test(model, [os.path.join(FIXTURES, "water_ener")], keep_values=True)
    panels = parity_panels(results, quantities_for("ener"))
    assert [p.title for p in panels] == ["energy", "energy/atom", "force"]
    for panel, name in zip(panels, ("energy", "energy_per_atom", "force")):
        rmse = math.sqrt(np.mean((panel.pred - panel.data) ** 2))
        assert rmse == pytest.approx(results["total"][name]["rmse"], rel=1e-12)
    assert panels[2].data.size == 3 * 192 * 3
    plot_parity(panels, tmp_path / "p.png")
    png_size(tmp_path / "p.png")
    with pytest.raises(DataError, match="nothing to plot"):
        plot_parity([], tmp_path / "q.png")
