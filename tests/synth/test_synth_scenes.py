"""SynthGroups scenes: the group rule, class balance, and exact per-frame annotations."""

import numpy as np
import pytest

from vemd.synth.generate import SynthOptions, make_clip, split_labels
from vemd.synth.group import BAND, group_label, sample_group_valences
from vemd.synth.noise import add_annotation_noise
from vemd.synth.render import render_scene
from vemd.synth.scene import SceneOptions, sample_scene


@pytest.mark.parametrize(
    ("valences", "label"),
    [
        ([1], 2),
        ([0], 1),
        ([-1], 0),
        ([1, 0, 0, 0], 1),
        ([1, 1, 0, 0], 2),
        ([-1, -1, 0, 1], 1),
        ([-1, -1, 0], 0),
    ],
)
def test_group_label_is_the_balance_with_a_neutral_band(valences, label):
    assert group_label(np.array(valences)) == label


def test_sampled_valences_follow_the_rule_and_the_largest_person_sometimes_disagrees():
    rng = np.random.default_rng(0)
    disagree = 0
    for i in range(600):
        label, n = i % 3, int(rng.integers(2, 13))
        valences = sample_group_valences(rng, label, n, largest=n - 1)
        score = valences.mean()
        assert group_label(valences) == label and (score >= BAND if label == 2 else True)
        disagree += valences[-1] + 1 != label
    assert 0.15 < disagree / 600 < 0.3


def test_split_labels_are_balanced_and_seeded():
    options = SynthOptions(n_train=301, n_val=10, seed=3)
    labels = split_labels(options, "train")
    assert np.bincount(labels, minlength=3).tolist() == [101, 100, 100]
    assert np.array_equal(labels, split_labels(options, "train"))
    assert not np.array_equal(labels, split_labels(SynthOptions(n_train=301, n_val=10, seed=4), "train"))


def test_crowd_size_carries_no_label():
    options = SceneOptions(frames=1)
    sizes = {
        y: [len(sample_scene(np.random.default_rng([y, i]), y, options).people) for i in range(200)]
        for y in range(3)
    }
    means = [np.mean(v) for v in sizes.values()]
    assert max(means) - min(means) < 1.2  # uniform 1..12: mean 6.5, standard error ~0.25


@pytest.mark.parametrize("task", ["ger", "ier"])
def test_annotations_match_the_people_drawn(task):
    options = SceneOptions(frames=3, task=task)
    for i in range(12):
        scene = sample_scene(np.random.default_rng(i), i % 3, options)
        rendered = render_scene(scene)
        assert len(rendered) == 3
        for frame, annotation in rendered:
            assert frame.shape == (224, 224, 3) and frame.dtype == np.uint8
            assert (annotation.width, annotation.height) == (224, 224)
            assert len(annotation.persons) == len(scene.people)  # every person keeps visible points
            for person in annotation.persons:
                for points in (person.body, person.face):
                    if points is None:
                        continue
                    visible = points[points[:, 2] > 0]
                    assert np.all((visible[:, :2] >= 0) & (visible[:, :2] <= 223))
                    assert set(np.unique(points[:, 2])) <= {0.0, 1.0}


def test_visible_keypoints_lie_on_the_drawn_person():
    """A visible wrist is on a skin-coloured pixel of its person (the frame equals the canvas crop for T = 1)."""
    options = SceneOptions(frames=1)
    scene = sample_scene(np.random.default_rng(5), 2, options)
    frame, annotation = render_scene(scene)[0]
    checked = 0
    for spec, person in zip(scene.people, annotation.persons):
        for x, y, v in person.body[[9, 10]]:
            if v > 0:
                pixel = frame[int(round(y)), int(round(x))].astype(int)
                assert np.abs(pixel - np.array(spec.look.skin)).max() <= 40
                checked += 1
    assert checked > 0


def test_ier_label_is_the_dominant_persons_valence():
    options = SceneOptions(frames=1, task="ier")
    for i in range(30):
        scene = sample_scene(np.random.default_rng(i), i % 3, options)
        assert scene.people[-1].valence + 1 == i % 3
        assert scene.people[-1].size == max(p.size for p in scene.people)


def test_annotation_noise_drops_and_jitters():
    options = SynthOptions(n_train=1, n_val=0, frames=1, max_people=12, seed=2)
    exact = make_clip(options, "train", 0, 1)[1][0]
    noisy = make_clip(SynthOptions(**{**options.__dict__, "annotation_noise": 0.5}), "train", 0, 1)[1][0]
    assert add_annotation_noise(exact, np.random.default_rng(0), 0.0) is exact
    assert len(noisy.persons) <= len(exact.persons)
    moved = [np.abs(a.body[:, :2] - b.body[:, :2]).max() for a, b in zip(exact.persons, noisy.persons)]
    assert len(noisy.persons) < len(exact.persons) or max(moved) > 0.5
