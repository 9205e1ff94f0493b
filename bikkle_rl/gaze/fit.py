"""Fits a person's gaze model, the parameters of :class:`~bikkle_rl.gaze.realistic.RealisticGaze`, to recordings.

Training against a model of one person's eye is cheaper and safer than training against their live gaze, and
evaluating against it asks how an agent does with *their* gaze. :func:`fit_gaze` reads the recorded state and
gaze of :mod:`bikkle_rl.recording` files and estimates every parameter of the realistic source, each
with a 95 % bootstrap interval; :mod:`bikkle_rl.gaze.fitted` stores the result for training and evaluation.

Recorded row t holds the arena state S_t and the gaze shown with it. Under the model that gaze was sampled
``latency_steps`` = k rows earlier, from state S_{t-k}: each new fixation lands on a pellet present then, and
the eye stays on that spot, even once the pellet is collected, until the fixation ends. Row t is therefore
read against S_{t-k}; every sample is *labelled* with the pellet it rests on: the nearest pellet present at
t - k, unless the previous valid sample rested on a pellet collected since and this one is still nearer to
that spot (a pellet is an instance: a slot gets a new one each time it respawns). Consecutive valid samples
on one instance form a *run*: one or more fixations on the same pellet.

The estimators, in the order they run, and what each assumes beyond the model:

- ``latency_steps``: the lag k in ``0..max_latency_steps`` minimising the summed distance (capped at
  :data:`DISTANCE_CAP`) from each valid sample to its label. Only the true lag never starts a fixation on a
  pellet not yet spawned or already collected; at other lags those samples lie far from every pellet. (The
  unlabelled nearest-pellet distance would prefer too long a lag: the eye lingers on collected pellets.)
  Needs pellets to appear and vanish within episodes. Where none do (episodic arenas that end at the first
  collection) every lag fits equally; the lag is then read off the invalid rows every episode starts with (the
  model's empty latency pipeline) and the fit says so in its notes.
- ``p_drop``, ``p_recover``: maximum likelihood of the two-state Markov chain from the valid -> lost and
  lost -> valid transitions between consecutive rows, leaving out each episode's first k rows (the empty
  latency pipeline).
- ``high_value_bias``: maximum likelihood of the per-sample mixture "the sample lies N(0, sigma^2) about the
  high-value pellet with probability b, else about one of the m other present pellets", sigma^2 =
  noise_std^2 + fixation_std^2, in the state the sample's fixation was drawn in. That state is known only up
  to the fixation's age i (steps since it began, not before its run began), so the mixture averages over
  P(age = i) = P(steps > i) / E[steps], from a first pass's durations (which read each sample against its own
  state). Soft assignment: hard nearest-pellet labels would move about 3 % of samples between close pellets,
  most of them away from the often-fixated high-value one; reading every sample against the state where its
  run began would miss the high-value pellet moving mid-run (each is about 0.01 too low). Fixation durations
  do not depend on the target, so the fraction of samples estimates the fraction of fixations.
- ``fixation_ms``: maximum likelihood over a 10 ms grid of ``(low, high)`` from the lengths L of runs flanked
  on both sides by valid samples on other pellets and free of dropouts. A run is G fixations, G geometric
  with the probability q that the next fixation lands on the same pellet (``high_value_bias`` on the
  high-value pellet, ``(1 - bias) / m`` on one of m others), each lasting ceil(d / step_ms) steps; a run is
  free of dropouts with probability (1 - p_drop)^L, so the likelihood is tilted and renormalised by that. Only
  runs on pellets at least :data:`ISOLATION_SIGMAS` sigma from every other pellet present within the longest
  fixation of the run's start are used (a pellet's layout does not depend on the gaze's timing), where noise
  cannot move a sample from one pellet to another and split a run; a small uniform contamination
  (:data:`RUN_CONTAMINATION`) keeps one odd run from stretching the range. The probability q is read at the
  run's start; the pellet being collected mid-run (q drops to 0) is not modelled.
- ``noise_std``, ``fixation_std``: moments of the isolated runs' samples, per axis and only on axes where the
  pellet is :data:`CLIP_MARGIN_SIGMAS` sigma from the walls (the tracker clips samples to the arena). The
  offset from the pellet has variance noise^2 + fixation^2; half the squared difference of consecutive
  samples of a run has noise^2 + s * fixation^2, s being the fraction of such pairs that straddle a
  re-fixation of the same pellet, q / (E[steps] - 1 + q), from the fitted bias and durations.

The sigma behind the wall margin and the isolation is a pilot, the root mean square per axis of the capped
distances from the labels. Confidence intervals resample blocks of :data:`BLOCK_STEPS` consecutive steps of an
episode with replacement and refit everything, the lag included (a recording of one long episode still has many
blocks); all statistics are block sums, so a replicate costs a matrix product plus the duration grid. The
pilot sigma, the thresholds built on it and the fixation ages stay those of the data as recorded.

What the step resolution allows: the data see a fixation's duration only through its whole number of steps,
ceil(d / step_ms). ``(low, high)`` is identified when that number takes three values or more (200-500 ms at
100 ms steps: 3, 4 or 5 steps): the middle ones fix the width, the outer ones the ends. When it takes one or
two values (the default 200-400 ms at 100 ms steps: 3 or 4 steps), every range with the same step-count
distribution fits equally well and simulates identically at that step length; the fit reports the widest
such range (off the grid, one end on a step boundary), :attr:`GazeFit.width_identified` is False and its notes
say so.

Recovery on simulated recordings (3 pink + 3 blue, continuing, the greedy-gaze driver) of two sources, set A
and set B (the defaults without latency); the largest error over 12 seeds of 16 arenas x 400 steps (what
``tests/gaze/test_fit.py`` fits, against the tolerance) and over 4 seeds of 64 arenas x 1000 steps:

==================  ============  =========  ===================  ====================
parameter           truth A; B    tolerance  error, 6 400 steps   error, 64 000 steps
==================  ============  =========  ===================  ====================
latency_steps       3; 0          0          0; 0                 0; 0
p_drop              0.08; 0.05    0.015      0.009; 0.007         0.002; 0.001
p_recover           0.30; 0.25    0.04       0.024; 0.026         0.003; 0.004
high_value_bias     0.7; 0.6      0.05       0.033; 0.021         0.008; 0.006
fixation_ms low     200; 200      50         30; 17               20; 0
fixation_ms high    500; 400      50         30; 22               10; 10
fixation_std        0.02; 0.03    0.012      0.010; 0.006         0.002; 0.002
noise_std           0.04; 0.05    0.005      0.002; 0.005         0.0004; 0.002
==================  ============  =========  ===================  ====================

The 95 % intervals held the truth in 184 of 192 (parameter, seed) cases at 6 400 steps and 59 of 64 at 64 000
steps, where ``noise_std`` of set B reads about 2 % low. Set B's range (3 or 4 steps) is reported as its widest
equivalent, which here is the truth.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bikkle_rl.recording import Recording

BLOCK_STEPS = 100
"""The bootstrap's unit: 100 consecutive steps of one episode (10 s at 10 Hz), long beside a run of fixations."""
DISTANCE_CAP = 0.2
"""The latency criterion caps each sample's distance here (a sample far from every pellet counts once), and so
does the pilot sigma."""
MAX_FIXATION_MS = 1000.0
"""The longest fixation the duration grid considers."""
GRID_MS = 10.0
"""The duration grid's spacing."""
BIAS_GRID = np.linspace(0.0, 1.0, 1001)
"""The values of ``high_value_bias`` whose likelihood is evaluated."""
CLIP_MARGIN_SIGMAS = 4.0
"""Noise moments use an axis only where the pellet lies this many sigma (total per-sample spread) from the walls."""
ISOLATION_SIGMAS = 7.0
"""Runs used for durations and noise rest on a pellet this many sigma from any other pellet present nearby."""
RUN_CONTAMINATION = 0.01
"""The duration likelihood's share of runs of any length (uniform over 1..the longest tracked), whatever the
durations: a run split by a mislabelled sample cannot force the range to cover its length."""
MIN_VALID_SAMPLES = 200
"""A recording needs this many valid gaze samples to be fitted."""
MIN_COUNTS = {"bias_samples": 200, "offset_values": 200, "pairs": 100, "runs": 30}
"""What each estimator needs, counted at the fitted lag (see :attr:`GazeFit.counts`)."""
CONFIDENCE = 0.95


class GazeFitError(ValueError):
    """The recordings cannot be fitted; the message names the file or the estimator and why."""


@dataclass(frozen=True)
class Estimate:
    """A fitted value and its 95 % bootstrap interval ``[low, high]``."""

    value: float
    low: float
    high: float


@dataclass(frozen=True)
class GazeFit:
    """The fitted parameters of :class:`~bikkle_rl.gaze.realistic.RealisticGaze`, with intervals and counts.

    ``counts``: ``recordings``, ``steps``, ``valid_samples`` (all recorded), ``bias_samples`` (samples the bias
    mixture used), ``offset_values`` and ``pairs`` (axis values and consecutive pairs of the noise moments),
    ``runs`` (the duration fit's runs), ``blocks`` and ``bootstrap`` (resampled blocks, replicates).
    ``width_identified``: whether the data fix the width of ``fixation_ms`` (see the module docstring);
    ``notes``: what the data left open, in words.
    """

    step_ms: float
    latency_steps: Estimate
    p_drop: Estimate
    p_recover: Estimate
    high_value_bias: Estimate
    fixation_low_ms: Estimate
    fixation_high_ms: Estimate
    fixation_std: Estimate
    noise_std: Estimate
    width_identified: bool
    notes: tuple[str, ...]
    counts: dict[str, int]

    @property
    def estimates(self) -> dict[str, Estimate]:
        """Every fitted quantity by name, in the order of :data:`PARAMETERS`."""
        return {name: getattr(self, name) for name in PARAMETERS}

    def source_options(self) -> dict:
        """The fitted values as :class:`~bikkle_rl.gaze.realistic.RealisticGaze` arguments."""
        return {
            "step_ms": self.step_ms,
            "fixation_ms": (self.fixation_low_ms.value, self.fixation_high_ms.value),
            "high_value_bias": self.high_value_bias.value,
            "fixation_std": self.fixation_std.value,
            "noise_std": self.noise_std.value,
            "latency_steps": int(self.latency_steps.value),
            "p_drop": self.p_drop.value,
            "p_recover": self.p_recover.value,
        }


@dataclass
class GazeData:
    """The fitted recordings' steps, flat: T rows, P pellet slots (padded to the widest arena).

    ``gaze`` [T, 2], ``valid`` [T], ``pellet_pos`` [T, P, 2], ``pellet_mask`` [T, P], ``high_value`` [T] as
    recorded; ``step`` [T] counts the rows since the row's stretch of consecutive steps of one episode began (a
    lag of k pairs row t with row t - k where ``step >= k``) and ``stretch_end`` [T] is the row after it;
    ``block`` [T] is the row's bootstrap block (blocks are contiguous and numbered in row order).
    """

    gaze: np.ndarray
    valid: np.ndarray
    pellet_pos: np.ndarray
    pellet_mask: np.ndarray
    high_value: np.ndarray
    step: np.ndarray
    stretch_end: np.ndarray
    block: np.ndarray
    step_ms: float
    num_recordings: int

    @property
    def num_blocks(self) -> int:
        return int(self.block[-1]) + 1

    def block_sum(self, rows: np.ndarray, values: np.ndarray) -> np.ndarray:
        """Sums ``values`` [R, ...] of the (increasing) ``rows`` [R] per block: [B, ...]."""
        totals = np.zeros((self.num_blocks, *values.shape[1:]))
        if len(rows):
            blocks = self.block[rows]
            starts = np.flatnonzero(np.r_[True, blocks[1:] != blocks[:-1]])
            totals[blocks[starts]] = np.add.reduceat(values.astype(np.float64), starts, axis=0)
        return totals


def pool_recordings(recordings: Sequence[Recording], names: Sequence[str], step_ms: float | None = None
                    ) -> GazeData:
    """Checks the recordings fit together and concatenates them (see :class:`GazeData`).

    ``names`` name the recordings in errors; ``step_ms`` defaults to the recordings' ``1000 / step_rate_hz``.
    Raises :class:`GazeFitError` for recordings of different step rates (a step is the model's clock) and for
    a recording with fewer than :data:`MIN_VALID_SAMPLES` valid gaze samples.
    """
    if not recordings:
        raise GazeFitError("no recordings to fit")
    rate = float(recordings[0].metadata["step_rate_hz"])
    for recording, name in zip(recordings, names):
        if float(recording.metadata["step_rate_hz"]) != rate:
            raise GazeFitError(f"{name}: step_rate_hz {recording.metadata['step_rate_hz']:g} differs from "
                               f"{names[0]}'s {rate:g}; fit recordings of one step rate together")
        valid = int(recording["gaze_valid"].sum())
        if valid < MIN_VALID_SAMPLES:
            raise GazeFitError(f"{name}: only {valid} valid gaze samples in {recording.num_steps} steps "
                               f"(at least {MIN_VALID_SAMPLES} are needed)")
    slots = max(recording["pellet_mask"].shape[1] for recording in recordings)
    parts = {key: [] for key in ("gaze", "valid", "pellet_pos", "pellet_mask", "high_value", "starts")}
    for recording in recordings:
        pad = slots - recording["pellet_mask"].shape[1]
        episode, episode_step = recording["episode"], recording["episode_step"]
        parts["gaze"].append(recording["gaze"].astype(np.float64))
        parts["valid"].append(recording["gaze_valid"].astype(bool))
        parts["pellet_pos"].append(np.pad(recording["pellet_pos"].astype(np.float64), ((0, 0), (0, pad), (0, 0))))
        parts["pellet_mask"].append(np.pad(recording["pellet_mask"].astype(bool), ((0, 0), (0, pad))))
        parts["high_value"].append(recording["high_value"])
        parts["starts"].append(np.r_[True, (episode[1:] != episode[:-1]) | (episode_step[1:] != episode_step[:-1] + 1)])
    flat = {key: np.concatenate(value) for key, value in parts.items()}
    stretch = np.cumsum(flat.pop("starts")) - 1
    first_rows = np.flatnonzero(np.r_[True, stretch[1:] != stretch[:-1]])
    step = np.arange(len(stretch)) - first_rows[stretch]
    new_block = np.r_[True, (stretch[1:] != stretch[:-1]) | (step[1:] % BLOCK_STEPS == 0)]
    return GazeData(step=step, stretch_end=np.r_[first_rows[1:], len(stretch)][stretch],
                    block=np.cumsum(new_block) - 1,
                    step_ms=1000.0 / rate if step_ms is None else float(step_ms),
                    num_recordings=len(recordings), **flat)


def instance_ids(data: GazeData) -> np.ndarray:
    """[T, P] an id per pellet instance: a slot's id changes when its pellet respawns and at each stretch start."""
    changed = np.ones(data.pellet_mask.shape, bool)
    changed[1:] = ((data.pellet_pos[1:] != data.pellet_pos[:-1]).any(-1)
                   | (data.pellet_mask[1:] != data.pellet_mask[:-1]) | (data.step[1:, None] == 0))
    return np.arange(changed.shape[1]) + changed.shape[1] * np.cumsum(changed, 0)


@dataclass
class GazeLabels:
    """The pellet each gaze sample rests on, read at one lag (see the module docstring).

    ``instance`` [T] (-1: no usable sample: invalid, or within the lag of its stretch's start), ``anchor``
    [T, 2] that pellet's position, ``distance`` [T] the sample's distance from it, ``role_row`` [T] the row
    whose state gives the pellet's role (the lagged row, or the last row the collected pellet was present).
    """

    instance: np.ndarray
    anchor: np.ndarray
    distance: np.ndarray
    role_row: np.ndarray


def label_gaze(data: GazeData, instances: np.ndarray, lag: int) -> GazeLabels:
    """Labels every usable sample with the pellet it rests on, reading row t against the state of row t - lag."""
    num_rows, num_slots = instances.shape
    rows = np.arange(num_rows)
    usable = data.valid & (data.step >= lag)
    state_row = np.where(usable, rows - lag, rows)
    distance = np.linalg.norm(data.gaze[:, None] - data.pellet_pos[state_row], axis=-1)
    distance = np.where(data.pellet_mask[state_row], distance, np.inf)
    slot = distance.argmin(-1)
    instance = np.where(usable, instances[state_row, slot], -1)
    anchor, distance, role_row = data.pellet_pos[state_row, slot], distance[rows, slot], state_row.copy()

    sample = np.flatnonzero(usable)
    same_stretch = data.step[sample[1:]] - data.step[sample[:-1]] == sample[1:] - sample[:-1]
    previous, following = np.full(num_rows, -1), np.full(num_rows, -1)
    previous[sample[1:][same_stretch]] = sample[:-1][same_stretch]
    following[sample[:-1][same_stretch]] = sample[1:][same_stretch]

    def present(row: int, label: int) -> bool:
        return bool(instances[state_row[row], label % num_slots] == label)

    carried = sample[previous[sample] >= 0]
    before = instance[previous[carried]]
    gone = instances[state_row[carried], before % num_slots] != before
    for row in carried[gone]:  # follow the eye along a collected pellet's spot until it leaves
        while row >= 0 and not present(row, instance[previous[row]]):
            source = previous[row]
            to_spot = float(np.linalg.norm(data.gaze[row] - anchor[source]))
            if to_spot >= distance[row]:
                break
            instance[row], anchor[row], distance[row] = instance[source], anchor[source], to_spot
            role_row[row] = role_row[source]
            row = following[row]
    return GazeLabels(instance, anchor, distance, role_row)


def pipeline_bound(data: GazeData) -> int:
    """The fewest invalid rows any stretch with a valid sample starts with: the model's empty latency pipeline
    makes the first ``latency_steps`` rows of every episode invalid."""
    first_valid = np.minimum.reduceat(np.where(data.valid, data.step, np.iinfo(np.int64).max),
                                      np.flatnonzero(data.step == 0))
    return int(first_valid[first_valid < np.iinfo(np.int64).max].min())


def choose_lags(costs: np.ndarray, bound: int) -> np.ndarray:
    """[R] the lag of least cost per row of ``costs`` [R, K + 1]; among equal costs (no pellet appeared or
    vanished in the data) the longest lag up to ``bound`` (see :func:`pipeline_bound`), else the shortest."""
    ties = costs <= costs.min(1, keepdims=True) + 1e-9
    lags = np.arange(costs.shape[1])
    consistent = ties & (lags <= bound)
    return np.where(consistent.any(1), np.where(consistent, lags, -1).max(1), ties.argmax(1))


def latency_costs(data: GazeData, instances: np.ndarray, max_lag: int) -> np.ndarray:
    """[B, K + 1] per block and lag: the summed capped distance of the valid samples from their labels (the
    same samples at every lag: those at least ``max_lag`` rows into their stretch)."""
    rows = np.flatnonzero(data.valid & (data.step >= max_lag))
    return np.stack([data.block_sum(rows, np.minimum(label_gaze(data, instances, lag).distance[rows], DISTANCE_CAP))
                     for lag in range(max_lag + 1)], 1)


@dataclass
class Runs:
    """The runs of one labelling: consecutive usable samples on one pellet instance, in row order.

    ``start`` [R] first row, ``length`` [R], ``of_row`` [T] each row's run (-1 for unusable rows), ``role``
    [R] 0 on the high-value pellet with others present, m >= 1 on another pellet with m such pellets present,
    -1 on the high-value pellet alone; ``flanked`` [R] a valid sample on another pellet on either side;
    ``clearance`` [R] the distance from the pellet to the nearest other pellet present within the longest
    fixation of the run's start.
    """

    start: np.ndarray
    length: np.ndarray
    of_row: np.ndarray
    role: np.ndarray
    flanked: np.ndarray
    clearance: np.ndarray


def find_runs(data: GazeData, instances: np.ndarray, labels: GazeLabels) -> Runs:
    """The runs of ``labels``, their roles, flanks and clearances (see :class:`Runs`)."""
    num_rows, num_slots = instances.shape
    usable = labels.instance >= 0
    continues = np.r_[False, (labels.instance[1:] == labels.instance[:-1]) & (data.step[1:] > 0)]
    starts = usable & ~continues
    start = np.flatnonzero(starts)
    of_row = np.where(usable, np.cumsum(starts) - 1, -1)
    length = np.bincount(of_row[usable], minlength=len(start))
    after = start + length  # the row after the run, when it is in the same stretch
    after_in = np.minimum(after, num_rows - 1)
    flanked = ((data.step[start] > 0) & usable[np.maximum(start - 1, 0)]
               & (after < num_rows) & (data.step[after_in] > 0) & usable[after_in])

    role_row = labels.role_row[start]
    slot, high = labels.instance[start] % num_slots, data.high_value[role_row]
    others = (data.pellet_mask[role_row] & (np.arange(num_slots) != high[:, None])).sum(-1)
    role = np.where(slot == high, np.where(others > 0, 0, -1), others)

    reach = math.ceil(MAX_FIXATION_MS / data.step_ms)
    window = np.clip(role_row[:, None] + np.arange(-reach, reach + 1), (role_row - data.step[role_row])[:, None],
                     data.stretch_end[role_row][:, None] - 1)  # [R, W] rows of the start's stretch
    others_near = instances[window] != labels.instance[start][:, None, None]
    gaps = np.linalg.norm(data.pellet_pos[window] - labels.anchor[start][:, None, None], axis=-1)
    clearance = np.where(others_near & data.pellet_mask[window], gaps, np.inf).min((-1, -2))
    return Runs(start, length, of_row, role, flanked, clearance)


@dataclass
class LagStats:
    """The estimators' sufficient statistics at one lag, summed per bootstrap block ([B, ...] each).

    ``dropout`` [B, 4]: valid -> valid, valid -> lost, lost -> valid, lost -> lost transitions;
    ``bias_loglik`` [B, len(BIAS_GRID)]: the bias mixture's log-likelihood; ``offsets`` [B, 2]: squared
    offsets from the pellet summed over axes, number of axis values; ``pairs`` [B, P, 2]: the same for
    consecutive samples' differences, by run role (see :class:`Runs`); ``runs`` [B, P, L + 1]: the duration
    fit's runs by role and length (the last column: that long or longer). ``counts``: the fitted data's sizes.
    """

    dropout: np.ndarray
    bias_loglik: np.ndarray
    offsets: np.ndarray
    pairs: np.ndarray
    runs: np.ndarray
    counts: dict[str, int]


def lag_stats(data: GazeData, instances: np.ndarray, lag: int, age: np.ndarray) -> LagStats:
    """Labels the samples at ``lag`` and collects every estimator's statistics (see the module docstring);
    ``age`` [A] is the bias mixture's fixation age distribution (see :func:`bias_mixture_loglik`)."""
    num_slots = instances.shape[1]
    labels = label_gaze(data, instances, lag)
    runs = find_runs(data, instances, labels)
    usable = np.flatnonzero(labels.instance >= 0)
    sigma = float(np.sqrt(np.mean(np.minimum(labels.distance[usable], DISTANCE_CAP) ** 2) / 2))  # per axis
    clear = runs.clearance >= ISOLATION_SIGMAS * sigma
    role = runs.role[runs.of_row[usable]]

    moved = np.flatnonzero(data.step >= lag + 1)
    transition = 2 * ~data.valid[moved - 1] + ~data.valid[moved]
    dropout = data.block_sum(moved, np.eye(4)[transition])

    inside = np.abs(labels.anchor - 0.5) <= 0.5 - CLIP_MARGIN_SIGMAS * sigma  # [T, 2] axes clear of the walls
    kept = usable[clear[runs.of_row[usable]] & (role >= 0)]
    offsets = data.block_sum(kept, np.stack([((data.gaze[kept] - labels.anchor[kept]) ** 2 * inside[kept]).sum(-1),
                                             inside[kept].sum(-1)], 1))
    paired = kept[(data.step[kept] > 0) & (runs.of_row[kept - 1] == runs.of_row[kept])]
    squares = ((data.gaze[paired] - data.gaze[paired - 1]) ** 2 * inside[paired]).sum(-1)
    by_role = np.eye(num_slots)[runs.role[runs.of_row[paired]]]  # [n, P]
    pairs = data.block_sum(paired, by_role[:, :, None] * np.stack([squares, inside[paired].sum(-1)], 1)[:, None])

    total_sigma = math.sqrt(offsets[:, 0].sum() / max(offsets[:, 1].sum(), 1))
    mixed = usable[role >= 0]
    bias_loglik = bias_mixture_loglik(data, labels, runs, mixed, total_sigma, age)

    reach = math.ceil(MAX_FIXATION_MS / data.step_ms)
    longest = 4 * reach
    fitted = np.flatnonzero(runs.flanked & clear & (runs.role >= 0))
    histogram = np.zeros((len(fitted), num_slots, longest + 1))
    histogram[np.arange(len(fitted)), runs.role[fitted], np.minimum(runs.length[fitted], longest)] = 1
    run_counts = data.block_sum(runs.start[fitted], histogram)
    counts = {"bias_samples": len(mixed), "offset_values": int(offsets[:, 1].sum()),
              "pairs": len(paired), "runs": len(fitted)}
    return LagStats(dropout, bias_loglik, offsets, pairs, run_counts, counts)


def bias_mixture_loglik(data: GazeData, labels: GazeLabels, runs: Runs, rows: np.ndarray, sigma: float,
                        fixation_age: np.ndarray, chunk: int = 2048) -> np.ndarray:
    """[B, len(BIAS_GRID)] the bias mixture's log-likelihood (see the module docstring) of ``rows`` per block.

    A sample's fixation was drawn ``i`` rows before it with probability ``fixation_age`` [A] (i = 0..A-1), but
    not before its run began; each such state contributes its pellets, N(0, sigma^2) per axis about each.
    """
    totals = np.zeros((data.num_blocks, len(BIAS_GRID)))
    with np.errstate(divide="ignore"):
        log_bias, log_other, log_age = np.log(BIAS_GRID), np.log1p(-BIAS_GRID), np.log(fixation_age)
    ages = np.arange(len(fixation_age))
    for part in np.array_split(rows, max(1, math.ceil(len(rows) / chunk))):
        run_began = labels.role_row[runs.start[runs.of_row[part]]]
        state = np.maximum(labels.role_row[part, None] - ages, run_began[:, None])  # [n, A]
        log_weight = np.where(ages <= labels.role_row[part, None] - run_began[:, None], log_age, -np.inf)
        high = data.high_value[state]
        log_density = -((data.gaze[part, None, None] - data.pellet_pos[state]) ** 2).sum(-1) / (2 * sigma**2)
        is_high = np.arange(log_density.shape[-1]) == high[..., None]  # [n, A, P]
        on_high = np.take_along_axis(log_density, high[..., None], -1)[..., 0]
        others = data.pellet_mask[state] & ~is_high
        on_other = np.logaddexp.reduce(np.where(others, log_density, -np.inf), -1) - np.log(others.sum(-1))
        on_high, on_other = (np.logaddexp.reduce(log_weight + term, -1) for term in (on_high, on_other))
        scale = np.maximum(on_high, on_other)[:, None]
        loglik = np.logaddexp(log_bias + (on_high[:, None] - scale), log_other + (on_other[:, None] - scale))
        totals += data.block_sum(part, loglik)
    return totals


def fixation_age(low: float, high: float, step_ms: float) -> np.ndarray:
    """[A] the probability that a step lies i = 0..A-1 steps into its fixation, P(n > i) / E[n], for fixations
    of U(low, high) ms."""
    pmf = step_count_pmf(np.array([low]), np.array([high]), step_ms, math.ceil(high / step_ms))[0]
    survival = 1 - np.cumsum(pmf)[:-1]  # P(n > i)
    return survival / survival.sum()


def step_count_pmf(low: np.ndarray, high: np.ndarray, step_ms: float, max_steps: int) -> np.ndarray:
    """[G, N + 1] the probability that a fixation of d ~ U(low, high) ms lasts n = ceil(d / step_ms) steps, for
    ``low``, ``high`` [G] and n = 0..N (column 0 is always 0)."""
    edges = step_ms * np.arange(max_steps + 1)
    width = (high - low)[:, None]
    overlap = np.clip(np.minimum(edges[1:], high[:, None]) - np.maximum(edges[:-1], low[:, None]), 0.0, None)
    point = np.arange(1, max_steps + 1) == np.ceil(low / step_ms)[:, None]
    pmf = np.where(width > 0, overlap / np.where(width > 0, width, 1.0), point)
    return np.concatenate([np.zeros((len(low), 1)), pmf], 1)


def run_length_loglik(pmf: np.ndarray, repeat: np.ndarray, keep: float, longest: int) -> np.ndarray:
    """[G, C, L + 1] log-probability of a fitted run's length (see the module docstring), L = ``longest``.

    ``pmf`` [G, N + 1] the steps per fixation, ``repeat`` [C] the probability q of re-fixating the same pellet
    per run role, ``keep`` = 1 - p_drop. Column l is a run of l steps, column L one of L or more, column 0 is
    unused.
    """
    num_steps = pmf.shape[1] - 1
    q = np.minimum(repeat, 1 - 1e-9)[None, :]  # a run that always re-fixates would never end
    length_pmf = np.zeros((pmf.shape[0], len(repeat), longest + 1))  # P(L = l), before the dropout tilt
    for length in range(1, longest + 1):
        n = np.arange(1, min(length - 1, num_steps) + 1)
        again = (pmf[:, None, n] * length_pmf[:, :, length - n]).sum(-1)
        first = pmf[:, length, None] if length <= num_steps else 0.0
        length_pmf[:, :, length] = (1 - q) * first + q * again
    tilt = keep ** np.arange(longest + 1)
    per_fixation = (pmf * tilt[: num_steps + 1]).sum(-1, keepdims=True)  # E[keep^n]
    total = (1 - q) * per_fixation / (1 - q * per_fixation)  # E[keep^L]
    tilted = length_pmf * tilt
    tilted[:, :, longest] = np.clip(total - tilted[:, :, :longest].sum(-1), 0.0, None)
    observed = (1 - RUN_CONTAMINATION) * tilted / total[:, :, None] + RUN_CONTAMINATION / longest
    return np.log(observed)


@dataclass
class DurationGrid:
    """The ``(low, high)`` pairs [G] the duration fit compares, their step-count pmfs [G, N + 1] and mean steps [G]."""

    low: np.ndarray
    high: np.ndarray
    pmf: np.ndarray
    mean_steps: np.ndarray

    @classmethod
    def build(cls, step_ms: float) -> DurationGrid:
        values = np.arange(GRID_MS, MAX_FIXATION_MS + GRID_MS / 2, GRID_MS)
        low, high = np.meshgrid(values, values, indexing="ij")
        low, high = low[low <= high], high[low <= high]
        pmf = step_count_pmf(low, high, step_ms, math.ceil(MAX_FIXATION_MS / step_ms))
        return cls(low, high, pmf, pmf @ np.arange(pmf.shape[1]))

    def fixation_range(self, index: int, step_ms: float) -> tuple[float, float]:
        """The ``(low, high)`` of grid pair ``index``; when its fixations last one or two step counts (the width
        is not identified), the widest range with the same step-count pmf (off the grid, ``low >= GRID_MS``)."""
        pmf = self.pmf[index]
        counts = np.flatnonzero(pmf)
        if len(counts) == 1:
            return max(GRID_MS, (counts[0] - 1) * step_ms), counts[0] * step_ms
        if len(counts) == 2:
            edge, shorter = counts[0] * step_ms, pmf[counts[0]]
            if shorter >= 0.5:
                return max(GRID_MS, edge - step_ms), edge + step_ms * (1 - shorter) / shorter
            return max(GRID_MS, edge - step_ms * shorter / (1 - shorter)), edge + step_ms
        return float(self.low[index]), float(self.high[index])


def repeat_probability(bias: float, roles: np.ndarray) -> np.ndarray:
    """[C] the probability that the next fixation lands on the same pellet, per run role (see :class:`Runs`)."""
    return np.where(roles == 0, bias, (1 - bias) / np.maximum(roles, 1))


PARAMETERS = ("latency_steps", "p_drop", "p_recover", "high_value_bias", "fixation_low_ms", "fixation_high_ms",
              "fixation_std", "noise_std")
"""The fitted quantities, the columns of :func:`estimate_parameters`' result."""
LOW_MS, HIGH_MS = PARAMETERS.index("fixation_low_ms"), PARAMETERS.index("fixation_high_ms")


def estimate_parameters(stats: LagStats, weights: np.ndarray, lag: int, grid: DurationGrid, step_ms: float
                        ) -> np.ndarray:
    """[R, len(PARAMETERS)] every parameter from the statistics weighted per block by ``weights`` [R, B]."""
    dropout = weights @ stats.dropout
    with np.errstate(invalid="ignore", divide="ignore"):
        p_drop = dropout[:, 1] / (dropout[:, 0] + dropout[:, 1])
        p_recover = np.where(dropout[:, 2] + dropout[:, 3] > 0, dropout[:, 2] / (dropout[:, 2] + dropout[:, 3]), 1.0)
    bias = BIAS_GRID[(weights @ stats.bias_loglik).argmax(1)]
    roles = np.flatnonzero(stats.runs.sum((0, 2)))
    runs = np.einsum("rb,bcl->rcl", weights, stats.runs[:, roles])
    pairs = np.einsum("rb,bcv->rcv", weights, stats.pairs)
    offsets = weights @ stats.offsets
    longest = stats.runs.shape[2] - 1
    results = []
    for r in range(len(weights)):
        loglik = run_length_loglik(grid.pmf, repeat_probability(bias[r], roles), 1 - p_drop[r], longest)
        best = int(np.where(runs[r] > 0, loglik * runs[r], 0.0).sum((1, 2)).argmax())
        repeat = repeat_probability(bias[r], np.arange(pairs.shape[1]))
        straddle = repeat / (grid.mean_steps[best] - 1 + repeat)
        pair_values = pairs[r, :, 1]
        within = pairs[r, :, 0].sum() / pair_values.sum() / 2  # noise^2 + s * fixation^2
        s = (pair_values * straddle).sum() / pair_values.sum()
        spread = offsets[r, 0] / offsets[r, 1]  # noise^2 + fixation^2
        fixation_var = np.clip((spread - within) / (1 - s), 0.0, spread)
        results.append((lag, p_drop[r], p_recover[r], bias[r], *grid.fixation_range(best, step_ms),
                        math.sqrt(fixation_var), math.sqrt(spread - fixation_var)))
    return np.array(results)


def fit_gaze(recordings: Sequence[Recording], names: Sequence[str] | None = None, step_ms: float | None = None,
             max_latency_steps: int = 8, bootstrap: int = 200, seed: int = 0,
             min_counts: Mapping[str, int] | None = None) -> GazeFit:
    """Fits :class:`~bikkle_rl.gaze.realistic.RealisticGaze` to ``recordings`` (see the module docstring).

    Args:
        recordings: loaded recordings of one step rate; ``names`` name them in errors (default: their index).
        step_ms: the duration of a step (default: ``1000 / step_rate_hz`` of the recordings).
        max_latency_steps: the longest latency considered.
        bootstrap: replicates of the block bootstrap behind the 95 % intervals (0: intervals are the value).
        seed: seeds the bootstrap.
        min_counts: lowers (or raises) some of :data:`MIN_COUNTS`, what each estimator needs: for short sessions,
            at the price of wider intervals.

    Raises :class:`GazeFitError` naming the file or the estimator that lacks data.
    """
    names = [f"recording {i}" for i in range(len(recordings))] if names is None else list(names)
    if max_latency_steps < 0 or bootstrap < 0:
        raise GazeFitError(f"max_latency_steps and bootstrap must be >= 0, got {max_latency_steps}, {bootstrap}")
    if step_ms is not None and not step_ms > 0:
        raise GazeFitError(f"step_ms must be > 0, got {step_ms!r}")
    data = pool_recordings(recordings, names, step_ms)
    instances = instance_ids(data)
    rng = np.random.default_rng(seed)
    resampled = rng.multinomial(data.num_blocks, np.full(data.num_blocks, 1 / data.num_blocks), size=bootstrap)
    weights = np.concatenate([np.ones((1, data.num_blocks)), resampled])  # row 0: the data as recorded
    costs = weights @ latency_costs(data, instances, max_latency_steps)
    lags = choose_lags(costs, pipeline_bound(data))
    grid = DurationGrid.build(data.step_ms)
    # the bias mixture needs the fixation durations, which need the bias: a first pass reads each sample
    # against its own state (age 0) for the durations, the fit proper against the fixation ages they imply
    pilot_stats = lag_stats(data, instances, int(lags[0]), np.ones(1))
    unknown = sorted(set(min_counts or {}) - set(MIN_COUNTS))
    if unknown:
        raise GazeFitError(f"min_counts: unknown estimators {unknown}; choose among {sorted(MIN_COUNTS)}")
    needs = {**MIN_COUNTS, **(min_counts or {})}
    lacking = {name: (have, needs[name]) for name, have in pilot_stats.counts.items() if have < needs[name]}
    if lacking:
        raise GazeFitError("too little usable gaze to fit in " + ", ".join(names) + ": " + ", ".join(
            f"{name} {have} (at least {need})" for name, (have, need) in lacking.items()))
    pilot = estimate_parameters(pilot_stats, weights[:1], int(lags[0]), grid, data.step_ms)[0]
    age = fixation_age(pilot[LOW_MS], pilot[HIGH_MS], data.step_ms)
    values = np.zeros((len(weights), len(PARAMETERS)))
    for lag in np.unique(lags):
        stats = lag_stats(data, instances, int(lag), age)
        values[lags == lag] = estimate_parameters(stats, weights[lags == lag], int(lag), grid, data.step_ms)
    point, replicates = values[0], values[1:] if bootstrap else values
    low, high = np.nanquantile(replicates, [(1 - CONFIDENCE) / 2, (1 + CONFIDENCE) / 2], axis=0,
                               method="inverted_cdf")
    estimates = {name: Estimate(float(point[i]), float(low[i]), float(high[i])) for i, name in enumerate(PARAMETERS)}
    steps_per_fixation = np.flatnonzero(step_count_pmf(point[[LOW_MS]], point[[HIGH_MS]], data.step_ms,
                                                       grid.pmf.shape[1] - 1))
    notes = []
    if (costs[0] <= costs[0].min() + 1e-9).sum() > 1:
        notes.append("no pellet appeared or vanished within an episode, so the latency is read off the invalid "
                     "samples every episode starts with (the model's empty latency pipeline)")
    if len(steps_per_fixation) < 3:
        notes.append(f"fixations last {' or '.join(map(str, steps_per_fixation))} steps of {data.step_ms:g} ms: "
                     "their distribution is fitted but not the range's width; the widest range with that "
                     "step-count distribution is reported (any such range simulates identically at this step)")
    counts = {"recordings": data.num_recordings, "steps": len(data.valid), "valid_samples": int(data.valid.sum()),
              **pilot_stats.counts, "blocks": data.num_blocks, "bootstrap": bootstrap}
    return GazeFit(step_ms=data.step_ms, width_identified=len(steps_per_fixation) >= 3, notes=tuple(notes),
                   counts=counts, **estimates)
