"""Gaze from a Lab Streaming Layer (LSL) stream: the vendor-neutral way eye trackers publish gaze.

Tobii, Pupil Labs and webcam trackers can publish a 2-D gaze point as an LSL stream (``pylsl`` carries its
own liblsl). This source resolves one stream, keeps only its newest sample and maps it through the
monitor's :class:`~bikkle_rl.gaze.screen.WindowGeometry` into the arena.

Latency: the inlet synchronises the sender's clock (``proc_clocksync``), so every sample's timestamp is on
this machine's ``pylsl.local_clock``; the age of the gaze used at a step, ``local_clock() - timestamp``, is
what the agent's gaze lags behind the eye (tracker-to-inlet transport plus the wait for the next step).
:meth:`LSLGaze.latency_report` summarises it over a session.
"""

from __future__ import annotations

import math

import torch

from bikkle_rl.gaze.screen import LiveGaze, WindowGeometry

COORDINATES = ("normalized", "pixels")


def import_pylsl():
    """``pylsl``, or a clear error saying how to install it."""
    try:
        import pylsl
    except (ImportError, RuntimeError) as error:  # pylsl raises RuntimeError when liblsl cannot load
        raise ImportError(f"the 'lsl' gaze source needs pylsl with its liblsl (pip install pylsl): {error}") from None
    return pylsl


def stream_predicate(name: str | None, stream_type: str | None, source_id: str | None) -> str:
    """The LSL XPath predicate selecting a stream by whichever of name, type and source id are given."""
    parts = [f"{field}='{value}'" for field, value in (("name", name), ("type", stream_type),
                                                       ("source_id", source_id)) if value is not None]
    if not parts:
        raise ValueError("an LSL gaze stream needs at least one of name, stream_type or source_id")
    return " and ".join(parts)


class LSLGaze(LiveGaze):
    """The newest sample of an LSL gaze stream, mapped to the arena (``geometry_frame = "screen"``).

    The stream is resolved on first use (building the source does not touch the network). A step's gaze is
    lost (invalid) when the newest sample is older than ``max_age_s`` (the tracker stopped sending, as most do
    while the eye is lost), is NaN, or lies outside the arena.

    Args:
        name, stream_type, source_id: which stream to resolve (any combination; default type ``"Gaze"``).
        coordinates: ``"normalized"`` (fractions of the monitor, (0, 0) top-left, as Tobii's display area) or
            ``"pixels"`` (monitor pixels, y down).
        flip_y: the stream's y grows upwards (origin bottom-left, as Pupil Labs' normalised coordinates).
        channels: the stream channels holding x and y.
        max_age_s: a sample older than this is treated as lost.
        resolve_timeout_s: how long to wait for the stream to appear and open.
        geometry: the arena's place on the monitor (set by the play window when None).
    """

    geometry_frame = "screen"

    def __init__(self, name: str | None = None, stream_type: str | None = "Gaze", source_id: str | None = None,
                 coordinates: str = "normalized", flip_y: bool = False, channels: tuple[int, int] = (0, 1),
                 max_age_s: float = 0.2, resolve_timeout_s: float = 5.0, geometry: WindowGeometry | None = None):
        super().__init__(geometry)
        if coordinates not in COORDINATES:
            raise ValueError(f"coordinates must be one of {COORDINATES}, got {coordinates!r}")
        if len(channels) != 2 or min(channels) < 0:
            raise ValueError(f"channels must be two channel indices >= 0, got {channels!r}")
        if not max_age_s > 0 or not resolve_timeout_s > 0:
            raise ValueError(f"max_age_s and resolve_timeout_s must be > 0, got {max_age_s!r}, {resolve_timeout_s!r}")
        self.predicate = stream_predicate(name, stream_type, source_id)
        self.coordinates = coordinates
        self.flip_y = bool(flip_y)
        self.channels = tuple(int(c) for c in channels)
        self.max_age_s = float(max_age_s)
        self.resolve_timeout_s = float(resolve_timeout_s)
        self._pylsl = None
        self._inlet = None
        self._newest: torch.Tensor | None = None  # [2] device coordinates of the newest sample
        self._newest_time = -math.inf
        self._ages: list[float] = []  # age of every gaze returned as valid-by-time
        self._lost_reads = 0

    def connect(self) -> None:
        """Resolves and opens the stream (a clear error when none matches within ``resolve_timeout_s``)."""
        pylsl = import_pylsl()
        streams = pylsl.resolve_bypred(self.predicate, 1, self.resolve_timeout_s)
        if not streams:
            raise RuntimeError(f"no LSL stream matching {self.predicate!r} appeared within {self.resolve_timeout_s} s")
        info = streams[0]
        if info.channel_count() <= max(self.channels):
            raise ValueError(f"LSL stream {info.name()!r} has {info.channel_count()} channels; "
                             f"gaze channels {self.channels} do not exist")
        inlet = pylsl.StreamInlet(info, max_buflen=1, processing_flags=pylsl.proc_clocksync)
        inlet.open_stream(self.resolve_timeout_s)
        self._pylsl, self._inlet = pylsl, inlet

    def close(self) -> None:
        if self._inlet is not None:
            self._inlet.close_stream()
        self._inlet = None

    def read_point(self) -> torch.Tensor | None:
        if self._inlet is None:
            self.connect()
        samples, stamps = self._inlet.pull_chunk(timeout=0.0, as_numpy=True)
        if len(stamps):
            self._newest = torch.as_tensor(samples[-1, list(self.channels)], dtype=torch.float32)
            self._newest_time = float(stamps[-1])
        self.latency_s = self._pylsl.local_clock() - self._newest_time if self._newest is not None else math.nan
        if self._newest is None or self.latency_s > self.max_age_s:
            self._lost_reads += 1
            return None
        self._ages.append(self.latency_s)
        return self.to_arena(self._newest)

    def to_arena(self, point: torch.Tensor) -> torch.Tensor:
        """A stream point [..., 2] in the configured coordinates to arena coordinates."""
        geometry = self.require_geometry()
        if self.flip_y:
            height = 1.0 if self.coordinates == "normalized" else geometry.screen_height
            point = torch.stack((point[..., 0], height - point[..., 1]), -1)
        if self.coordinates == "normalized":
            return geometry.normalized_to_arena(point)
        return geometry.pixels_to_arena(point)

    def latency_report(self) -> dict[str, float]:
        """Reads so far, how many found the gaze lost, and the age (seconds) of the gaze used: mean, p50, p95, max."""
        ages = torch.tensor(self._ages, dtype=torch.float64)
        report = {"reads": float(len(self._ages) + self._lost_reads), "lost": float(self._lost_reads)}
        if len(self._ages):
            quantiles = torch.quantile(ages, torch.tensor([0.5, 0.95], dtype=torch.float64))
            report.update(mean_s=ages.mean().item(), p50_s=quantiles[0].item(), p95_s=quantiles[1].item(),
                          max_s=ages.max().item())
        return report
