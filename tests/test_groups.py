"""Spatial latents: the layout is kept, and the per-unit results are combined per channel
and per position, against planted signals and closed forms."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from torch import nn

import latentprobe
from latentprobe.outputs.document import report_document
from latentprobe.outputs.groups import group_rows, unit_groups
from latentprobe.outputs.summary import summary

C, H, W = 3, 2, 4


def planted(n: int = 400, seed: int = 0) -> latentprobe.EncoderStats:
    """Channel 0 informative (means spread, small variances), channels 1 and 2 exactly the
    prior (mu = 0, logvar = 0: KL 0)."""
    rng = np.random.default_rng(seed)
    mu, logvar = np.zeros((n, C, H, W)), np.zeros((n, C, H, W))
    mu[:, 0] = rng.normal(size=(n, H, W))
    logvar[:, 0] = -2.0
    return latentprobe.EncoderStats.from_latents(mu, logvar)


def test_the_layout_is_kept_and_flattened_in_c_order():
    stats = planted()
    assert stats.latent_shape == (C, H, W) and stats.n_units == C * H * W
    assert np.all(stats.logvar[:, : H * W] == -2.0) and np.all(stats.logvar[:, H * W :] == 0)


def test_a_layout_that_does_not_fit_the_units_is_ignored():
    stats = latentprobe.EncoderStats(
        np.zeros((5, 6)), np.zeros((5, 6)), provenance={"latent_shape": [4, 2]}
    )
    assert stats.latent_shape == (6,)


def test_channels_sum_the_kl_and_count_the_statuses():
    stats = planted()
    report = latentprobe.analyze(stats, only=["kl_divergence", "active_units"])
    rows = group_rows(report, "channel")
    assert [r["channel"] for r in rows] == [0, 1, 2]
    mu, var = stats.mu[:, : H * W], np.exp(-2.0)
    closed = (0.5 * (mu**2 + var - 1 + 2.0)).mean(0).sum()  # KL to N(0, 1), channel 0
    assert rows[0]["kl"] == pytest.approx(closed, rel=1e-12)
    assert rows[1]["kl"] == rows[2]["kl"] == 0.0
    assert (rows[0]["active"], rows[1]["active"], rows[2]["active"]) == (H * W, 0, 0)
    assert rows[1]["collapsed"] + rows[1]["inactive"] == H * W


def test_each_position_holds_one_unit_of_each_channel():
    report = latentprobe.analyze(planted(), only=["active_units"])
    rows = group_rows(report, "position")
    assert len(rows) == H * W and rows[5]["position"] == [1, 1]
    assert all(r["units"] == C and r["active"] == 1 for r in rows)
    groups = dict((tuple(k), v) for k, v in unit_groups((C, H, W), "position"))
    assert list(groups[(1, 1)]) == [5, 5 + H * W, 5 + 2 * H * W]


def test_the_summary_and_the_json_show_the_channels():
    report = latentprobe.analyze(planted(), only=["kl_divergence", "active_units"])
    text = summary(report, "planted")
    assert "per channel (the first axis of the 3 x 2 x 4 latent):" in text
    header = text.splitlines()[
        text.splitlines().index("per channel (the first axis of the 3 x 2 x 4 latent):") + 1
    ]
    assert "activ/ignor/inact/colla/undet" in header  # every status is counted
    doc = json.loads(json.dumps(report_document(report)))
    assert doc["latent_shape"] == [C, H, W] and len(doc["per_channel"]) == C
    flat = latentprobe.analyze(
        latentprobe.EncoderStats(np.zeros((9, 2)), np.zeros((9, 2))), only=["active_units"]
    )
    assert "per_channel" not in report_document(flat) and "per channel" not in summary(flat, "f")


class ConvEncoder(nn.Module):
    def __init__(self):
        super().__init__()
        self.net = nn.Conv2d(1, 2 * C, kernel_size=3, padding=1)

    def encode(self, x):
        h = self.net(x.reshape(len(x), 1, H, W))
        return h[:, :C], h[:, C:]


def test_extraction_records_the_layout_and_the_report_file_keeps_it(tmp_path):
    torch.manual_seed(0)
    x = np.random.default_rng(0).random((50, H * W)).astype(np.float32)
    path = latentprobe.extract_to_file(ConvEncoder(), x, tmp_path / "s.h5")
    stats = latentprobe.read_stats(path)
    assert stats.latent_shape == (C, H, W) and stats.n_units == C * H * W
    latentprobe.analyze(stats, only=["active_units"]).write(tmp_path / "r.h5")
    assert latentprobe.Report.read(tmp_path / "r.h5").stats.latent_shape == (C, H, W)
