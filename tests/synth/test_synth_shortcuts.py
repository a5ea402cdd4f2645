"""The label, valence and arousal must not be readable from colour or layout alone (shortcut
checks of the generator), while valence and arousal are readable from what the people show."""

import math

import cv2
import numpy as np
import torch
from sklearn.linear_model import LinearRegression, LogisticRegression
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from vemd.models.regression import ccc
from vemd.synth.affect import FULL_MOTION, clip_affect
from vemd.synth.generate import SynthOptions, make_clip, split_labels
from vemd.synth.person import expression_amount, expression_at, head_centre
from vemd.synth.render import render_frames
from vemd.synth.scene import SceneOptions, sample_scene

NUM_SCENES = 360
NUM_VA_SCENES = 240


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


def _va_frames():
    """Per frame of NUM_VA_SCENES 3-frame clips: image statistics (F, 5), drawn quantities (F, 3), targets (F, 2)."""
    options = SceneOptions(frames=3)
    stats, drawn, targets = [], [], []
    for i in range(NUM_VA_SCENES):
        scene = sample_scene(np.random.default_rng([17, i]), i % 3, options)
        rendered = render_frames(scene)
        targets.append(clip_affect(scene, np.stack([shares for _, _, shares in rendered])))
        for t, (frame, _, _) in enumerate(rendered):
            grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
            stats.append([*frame.reshape(-1, 3).mean(axis=0), grey.mean(), grey.std()])
            people = scene.people
            moves = [
                math.dist(head_centre(p, max(t, 1)), head_centre(p, max(t, 1) - 1)) / p.size for p in people
            ]
            drawn.append(
                [
                    np.mean([p.valence * expression_amount(p, t) for p in people]),
                    np.mean([expression_at(p, t).opening for p in people]),
                    np.mean([min(m / FULL_MOTION, 1.0) for m in moves]),
                ]
            )
    return np.array(stats), np.array(drawn), np.concatenate(targets)


def _held_out_ccc(features: np.ndarray, targets: np.ndarray) -> np.ndarray:
    """(2,) CCC of valence, arousal of a linear regression fitted on the first half of the clips, on the rest."""
    half = NUM_VA_SCENES // 2 * 3
    pred = LinearRegression().fit(features[:half], targets[:half]).predict(features[half:])
    return ccc(
        torch.tensor(pred, dtype=torch.float32), torch.tensor(targets[half:], dtype=torch.float32)
    ).numpy()


def test_valence_and_arousal_come_from_the_people_not_from_image_statistics():
    stats, drawn, targets = _va_frames()
    assert np.isfinite(targets).all() and targets.std(axis=0).min() > 0.15
    shortcut = _held_out_ccc(stats, targets)  # mean B, G, R, brightness and contrast of the frame
    assert np.all(np.abs(shortcut) < 0.2), shortcut
    readable = _held_out_ccc(drawn, targets)  # the people's expressed valence, mouth opening and motion
    assert np.all(readable > 0.9), readable
