"""Each ClipDataset sample names the source frames its T frames were read from
(``frame_indices``), so that what is placed at a frame (the ABAW 2024 evaluation's per-frame
predictions, annotation keys, per-frame targets) never recomputes the sampling."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from tests.data import bad_media

from vemd.data.dataset import ClipDataset, collate, source_span
from vemd.data.manifest import ClipRecord
from vemd.data.media import read_frames, read_frames_at


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    """A 40-frame video whose frame k is grey 4·k, and an image."""
    root = tmp_path_factory.mktemp("frame_indices")
    bad_media.video(root, 40, "grey.mp4")
    bad_media.good_png(root, "group.png")
    return root


RECORDS = [
    ClipRecord("whole", "train", "a", "grey.mp4"),
    ClipRecord("grey@10", "train", "a", "grey.mp4", start_frame=10, end_frame=30),
    ClipRecord("group", "train", "a", "group.png"),
]


@pytest.mark.parametrize("sampling", ["uniform", "fps"])
def test_a_sample_names_the_source_frames_it_was_read_from(media, sampling):
    dataset = ClipDataset(RECORDS, media, ["a"], frames=4, sampling=sampling, interval=0.5, image_size=32)
    for row, record in enumerate(RECORDS):
        sample = dataset[row]
        span = None if record.start_frame is None else (record.start_frame, record.end_frame)
        _, read = read_frames(media / record.path, 4, sampling=sampling, interval=0.5, span=span)
        assert sample["frame_indices"].dtype == torch.long and sample["frame_indices"].tolist() == read
    # the pixels are those frames' (flat greys, 4 levels apart: one frame from the next)
    window = dataset[1]
    assert window["frame_indices"].min() >= 10 and window["frame_indices"].max() < 30
    decoded = read_frames_at(media / "grey.mp4", window["frame_indices"].tolist())
    grey = window["frames"].float().mean(dim=(1, 2, 3)).numpy()
    np.testing.assert_allclose(grey, [f.mean() for f in decoded], atol=0.5)
    assert dataset[2]["frame_indices"].tolist() == [0, 0, 0, 0]  # an image is frame 0 each time
    batch = collate([dataset[0], dataset[1]])
    assert batch["frame_indices"].shape == (2, 4)
    torch.testing.assert_close(batch["frame_indices"][1], window["frame_indices"])


def test_an_items_span_is_its_frames_within_the_source():
    assert source_span(RECORDS[0], 40) == (0, 40)
    assert source_span(RECORDS[1], 40) == (10, 30)
    assert source_span(RECORDS[1], 25) == (10, 25)  # a window past a shorter source ends with it
    assert source_span(ClipRecord("tail", "train", "a", "grey.mp4", start_frame=35), 40) == (35, 40)
