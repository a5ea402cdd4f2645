"""The label must not be readable from colour or layout alone (shortcut check of the generator)."""

import cv2
import numpy as np
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vemd.synth.generate import SynthOptions, make_clip, split_labels

NUM_SCENES = 360


def _scenes():
    options = SynthOptions(n_train=NUM_SCENES, n_val=0, frames=1, seed=7)
    labels = split_labels(options, "train")
    frames = [make_clip(options, "train", i, int(y))[0][0] for i, y in enumerate(labels)]
    return frames, labels


def _colour_histograms(frames):
    return np.stack(
        [
            np.concatenate([np.bincount(f[..., c].ravel() // 32, minlength=8) for c in range(3)])
            for f in frames
        ]
    )


def _grey_thumbnails(frames):
    return np.stack(
        [
            cv2.resize(cv2.cvtColor(f, cv2.COLOR_BGR2GRAY), (16, 16), interpolation=cv2.INTER_AREA).ravel()
            for f in frames
        ]
    )


def test_global_image_statistics_stay_near_chance():
    frames, labels = _scenes()
    for features in (_colour_histograms(frames), _grey_thumbnails(frames)):
        model = make_pipeline(StandardScaler(), LogisticRegression(C=0.1, max_iter=2000))
        accuracy = cross_val_score(model, features.astype(np.float64), labels, cv=4).mean()
        assert accuracy <= 0.45, accuracy
