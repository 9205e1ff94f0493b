import imageio.v3 as iio
import numpy as np

from bikkle_rl.evaluation.curves import plot_learning_curves

BLUE, ORANGE = (31, 119, 180), (255, 127, 14)  # matplotlib's first two line colours


def rows(returns: list[float]) -> list[dict]:
    return [{"frames": 1000 * i, "seconds": 30.0 * i, "return": r} for i, r in enumerate(returns)]


def has_colour(image: np.ndarray, colour: tuple[int, int, int]) -> bool:
    return bool((np.abs(image[..., :3].astype(int) - colour).sum(axis=-1) < 30).any())


def test_every_run_gets_its_own_line(tmp_path):
    two = plot_learning_curves({"a": rows([0, 5, 9]), "b": rows([1, 2, 3])}, tmp_path / "two.png", reference=8.0,
                               title="two runs")
    one = plot_learning_curves({"a": rows([0, 5, 9])}, tmp_path / "one.png")
    two_image, one_image = iio.imread(two), iio.imread(one)
    assert has_colour(two_image, BLUE) and has_colour(two_image, ORANGE)
    assert has_colour(one_image, BLUE) and not has_colour(one_image, ORANGE)
