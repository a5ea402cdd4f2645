"""The EmotiW 2020 system as its paper set it up: the video branch's time padding follows its
weights (zeros for the Multi-Moments checkpoint of §II-B), the fusion SVM's C, kernel and degree
chosen by grid search with the final refit on train + validation as an option (§III-D), and
Table VI's people count (faces per frame averaged over the clip, < 5 vs >= 5). Fast: no branch
is trained here (test_emotiw20.py runs the whole system)."""

from __future__ import annotations

import re

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from sklearn.model_selection import StratifiedKFold, cross_val_score
from sklearn.svm import SVC
from tests.systems.conftest import EMOTIW20_RECIPE, EMOTIW20_TINY

from vemd.config import ConfigError, load_config
from vemd.data.dataset import ClipDataset
from vemd.data.loaders import load_index
from vemd.data.manifest import annotation_key
from vemd.eval.group_size import bucket_of, count_people, people_from_annotations
from vemd.io import load_weights_only
from vemd.models.inflated import InflatedResNetClassifier, TimeConv3d
from vemd.structure.annotations import AnnotationStore, FrameAnnotation, Person
from vemd.systems import load_artifact
from vemd.systems.common import save_system
from vemd.systems.emotiw20 import svm_fusion
from vemd.systems.emotiw20.fit import fit_fusion
from vemd.systems.emotiw20.model import EmotiW20
from vemd.systems.emotiw20.svm_fusion import search_svm, svm_grid

PAPER_RECIPE = "paper/systems/emotiw20_vgaf"
SMALL_PAPER = ("system.emotiw20.pretrained=false", "system.emotiw20.backbone=resnet18")  # its 7x7 stem
CLASSES = ["Negative", "Neutral", "Positive"]


@pytest.fixture(autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


# ---- time padding ----------------------------------------------------------------------------


def _stem_at_first_frame(conv: TimeConv3d, clip: torch.Tensor, padding: str) -> torch.Tensor:
    """The stem's output at frame 0 by hand: each time tap of the kernel convolved in 2D with the
    frame it reads, the frames before the clip being zeros (nothing added) or copies of frame 0."""
    assert conv.bias is None
    taps = conv.weight.shape[2]  # (O, I, t, k, k)
    total = 0
    for tap in range(taps):
        frame = tap - taps // 2
        if frame < 0 and padding == "zeros":
            continue
        image = clip[:, :, max(frame, 0)]  # (B, I, H, W)
        total = total + F.conv2d(
            image, conv.weight[:, :, tap], stride=conv.stride[1:], padding=conv.padding[1:]
        )
    return total


@pytest.mark.parametrize(
    ("overrides", "padding"), [((), "zeros"), (("system.emotiw20.time_padding=replicate",), "replicate")]
)
def test_the_paper_recipe_zero_pads_time_as_the_multi_moments_checkpoint(overrides, padding):
    cfg = load_config(PAPER_RECIPE, [*SMALL_PAPER, *overrides])
    torch.manual_seed(0)
    model = EmotiW20(cfg)
    stem = model.video.backbone.conv1
    assert stem.kernel_size == (7, 7, 7)
    clip = torch.randn(1, 3, 10, 16, 16)  # (B, 3, T, H, W): the paper's 10 frames
    with torch.no_grad():
        first = stem(clip)[:, :, 0]
        zeros, replicated = (_stem_at_first_frame(stem, clip, p) for p in ("zeros", "replicate"))
    torch.testing.assert_close(first, zeros if padding == "zeros" else replicated, rtol=1e-4, atol=1e-5)
    assert (zeros - replicated).abs().max() > 0.1  # the two paddings are told apart
    assert model.time_padding == padding


def _paddings(model: EmotiW20) -> set[str]:
    return {m.time_padding for m in model.video.modules() if isinstance(m, TimeConv3d)}


def test_the_time_padding_follows_the_weights_and_the_model_file_keeps_it(tmp_path):
    activity = InflatedResNetClassifier("resnet10t", num_classes=339, time_kernel=1, downsample_time=False)
    checkpoint = tmp_path / "activity.pt"
    torch.save(activity.backbone.state_dict(), checkpoint)
    inflated_2d = EmotiW20(load_config(EMOTIW20_RECIPE, list(EMOTIW20_TINY)))
    assert inflated_2d.time_padding == "replicate" and _paddings(inflated_2d) == {"replicate"}
    cfg = load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, f"system.emotiw20.weights={checkpoint}"])
    model = EmotiW20(cfg)
    assert model.time_padding == "zeros" and _paddings(model) == {"zeros"}
    model.svm_scores = (
        torch.full((6, 6), 1 / 3, dtype=torch.float64) + torch.rand(6, 6, dtype=torch.float64) / 10
    )
    model.svm_labels = torch.arange(3).repeat(2)
    path = save_system(model, cfg, CLASSES, tmp_path / "model.pt")
    checkpoint.unlink()  # loading reads no pretrained weights: the file says how time is padded
    loaded = load_artifact(path).model
    assert loaded.time_padding == "zeros" and _paddings(loaded) == {"zeros"}
    # a file of an earlier vemd (no such fact) ran with replication
    data = load_weights_only(path)
    torch.save({**data, "extra": {}}, tmp_path / "old.pt")
    assert _paddings(load_artifact(tmp_path / "old.pt").model) == {"replicate"}


def test_a_bad_time_padding_is_one_line():
    cfg = load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, "system.emotiw20.time_padding=reflect"])
    with pytest.raises(ConfigError, match="system.emotiw20.time_padding='reflect': expected") as info:
        EmotiW20(cfg)
    assert "\n" not in str(info.value)


# ---- the SVM's grid search and refit ---------------------------------------------------------


def _scores(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """(n, 6) video then audio probabilities and labels: video sure and right on the first half,
    audio on the second, each hesitant and wrong elsewhere."""
    rng = np.random.default_rng(seed)
    y = np.arange(n) % 3

    def probs(peak_class, peak):
        p = np.full((n, 3), (1 - peak) / 2)
        p[np.arange(n), peak_class] = peak
        p += rng.normal(scale=0.05, size=p.shape)
        return np.abs(p) / np.abs(p).sum(axis=1, keepdims=True)

    first = (np.arange(n) < n // 2)[:, None]
    video = np.where(first, probs(y, 0.8), probs((y + 1) % 3, 0.5))
    audio = np.where(first, probs((y + 2) % 3, 0.5), probs(y, 0.8))
    return np.concatenate([video, audio], axis=1), y


def test_the_grid_search_picks_the_most_accurate_setting_over_the_folds():
    grid = svm_grid([0.1, 1.0, 10.0], ["linear", "poly", "rbf"], [2, 3])
    assert grid == [
        {"C": [0.1, 1.0, 10.0], "kernel": ["linear"]},
        {"C": [0.1, 1.0, 10.0], "kernel": ["poly"], "degree": [2, 3]},
        {"C": [0.1, 1.0, 10.0], "kernel": ["rbf"]},
    ]
    scores, y = _scores(60, seed=0)
    choice = search_svm([scores[:, :3], scores[:, 3:]], y, grid, folds=3, seed=0)
    # every setting scored by hand, ties to the first in grid order
    folds = StratifiedKFold(n_splits=3, shuffle=True, random_state=0)
    by_hand = [
        (
            (C, kernel, degree),
            cross_val_score(SVC(C=C, kernel=kernel, degree=degree), scores, y, cv=folds).mean(),
        )
        for kernel, degrees in (("linear", [3]), ("poly", [2, 3]), ("rbf", [3]))
        for degree in degrees
        for C in (0.1, 1.0, 10.0)
    ]
    best = max(accuracy for _, accuracy in by_hand)
    first_best = next(setting for setting, accuracy in by_hand if accuracy == pytest.approx(best))
    assert choice.candidates == 12 and choice.cv_accuracy == pytest.approx(best)
    assert (choice.C, choice.kernel) == first_best[:2] and (
        choice.kernel != "poly" or choice.degree == first_best[2]
    )


def _tiny_model(*overrides: str) -> EmotiW20:
    cfg = load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, "system.emotiw20.svm_grid_C=[0.1,10.0]", *overrides])
    torch.manual_seed(0)
    return EmotiW20(cfg)


@pytest.mark.parametrize("refit", [False, True])
def test_the_fusion_is_searched_scored_then_refitted_on_train_and_validation(refit, tmp_path, monkeypatch):
    train, y_train = _scores(45, seed=1)
    val, y_val = _scores(15, seed=2)
    model = _tiny_model(f"system.emotiw20.svm_refit_train_val={str(refit).lower()}")
    accuracy = fit_fusion(model, train, y_train, val, y_val)
    e = model.cfg.system.emotiw20
    grid = svm_grid(e.svm_grid_C, e.svm_grid_kernel, e.svm_grid_degree)
    searched = search_svm([train[:, :3], train[:, 3:]], y_train, grid, folds=5, seed=model.cfg.train.seed)
    assert model.svm_choice == searched and searched.candidates == 2 * 2 + 2 * 3
    params = model.svm.svm.get_params()
    assert (params["C"], params["kernel"], params["degree"]) == (searched.C, searched.kernel, searched.degree)
    # the validation accuracy is that of the SVM fitted on the training scores alone
    alone = _tiny_model(
        "system.emotiw20.svm_search=false",
        f"system.emotiw20.svm_C={searched.C}",
        f"system.emotiw20.svm_kernel={searched.kernel}",
        f"system.emotiw20.svm_degree={searched.degree}",
    )
    assert accuracy == pytest.approx(fit_fusion(alone, train, y_train, val, y_val))
    assert accuracy == pytest.approx((alone.fused_labels(val[:, :3], val[:, 3:]) == y_val).mean())
    stored = np.concatenate([train, val]) if refit else train
    np.testing.assert_array_equal(model.svm_scores.numpy(), stored)
    np.testing.assert_array_equal(
        model.svm_labels.numpy(), np.concatenate([y_train, y_val]) if refit else y_train
    )
    assert model.svm.svm.shape_fit_[0] == len(stored)
    # the model file keeps the choice: loading refits the SVM without searching again
    path = save_system(model, model.cfg, CLASSES, tmp_path / "model.pt")

    def no_search(*args, **kwargs):
        raise AssertionError("the grid search ran on loading")

    monkeypatch.setattr(svm_fusion, "search_svm", no_search)
    monkeypatch.setattr("vemd.systems.emotiw20.model.search_svm", no_search)
    loaded = load_artifact(path).model
    assert loaded.svm_choice == searched
    np.testing.assert_array_equal(
        loaded.fused_probs(val[:, :3], val[:, 3:]), model.fused_probs(val[:, :3], val[:, 3:])
    )


def test_without_the_search_the_set_svm_is_fitted():
    train, y_train = _scores(30, seed=3)
    model = _tiny_model(
        "system.emotiw20.svm_search=false", "system.emotiw20.svm_C=3.0", "system.emotiw20.svm_kernel=poly"
    )
    fit_fusion(model, train, y_train, train[:6], y_train[:6])
    assert (model.svm_choice.C, model.svm_choice.kernel, model.svm_choice.degree) == (3.0, "poly", 3)
    assert model.svm_choice.cv_accuracy is None and model.svm_choice.describe() == "poly, degree 3, C=3"


@pytest.mark.parametrize(
    ("override", "message"),
    [
        (
            "system.emotiw20.svm_grid_kernel=[rbf,cubic]",
            "svm_grid_kernel=['rbf', 'cubic']: expected names from",
        ),
        ("system.emotiw20.svm_grid_C=[1.0,0.0]", "svm_grid_C=[1.0, 0.0]: expected numbers > 0"),
        (
            "system.emotiw20.svm_grid_degree=[]",
            "svm_search needs svm_grid_C, svm_grid_kernel and svm_grid_degree",
        ),
        ("system.emotiw20.group_sizes=table6", "group_sizes='table6': expected one of paper, buckets"),
    ],
)
def test_bad_fusion_and_group_size_settings_are_one_line(override, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        EmotiW20(load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, override]))
    assert "\n" not in str(info.value)


# ---- Table VI's people count -----------------------------------------------------------------


def _faces(count: int) -> FrameAnnotation:
    return FrameAnnotation(64, 64, [Person(face=np.ones((68, 3), np.float32)) for _ in range(count)])


def test_people_are_the_faces_per_frame_averaged_over_the_clip(tmp_path):
    """Table VI's count is the mean over the frames, not the most in one frame."""
    with AnnotationStore(tmp_path / "ann", create=True) as store:
        for clip, faces in {"small": [6, 6, 2], "large": [5, 5, 4, 6], "none": [0, 0]}.items():
            for t, n in enumerate(faces):
                store.add(annotation_key(clip, t), _faces(n))
        store.add(
            annotation_key("bodies", 0),
            FrameAnnotation(64, 64, [Person(body=np.ones((17, 3), np.float32))] * 7),
        )
    store = AnnotationStore(tmp_path / "ann")
    ids = ["small", "large", "none", "bodies"]
    mean = people_from_annotations(store, ids, "mean_faces")
    assert mean == {"small": 4, "large": 5, "none": 0, "bodies": 0}  # 4.67, 5.0 rounded down
    assert [bucket_of(mean[c], (5,)) for c in ids] == ["0–4", "5+", "0–4", "0–4"]
    assert people_from_annotations(store, ids) == {"small": 6, "large": 6, "none": 0, "bodies": 7}


def test_without_a_store_faces_are_counted_on_the_frames_the_model_reads(av_root, tmp_path):
    cfg = load_config(EMOTIW20_RECIPE, [*EMOTIW20_TINY, f"data.root={av_root}"])
    index = load_index(cfg.data, "val")
    dataset = ClipDataset(index.records[:3], index.root, index.class_names, frames=4, sampling="uniform")
    no_store = load_config(EMOTIW20_RECIPE, [f"data.root={tmp_path}"]).data
    seen = []

    def face_counter():
        def count(image):
            seen.append(image.shape)
            return [6, 6, 2, 5][len(seen) % 4 - 1]  # 4.75 faces a frame on average

        return count

    ids = [r.clip_id for r in dataset.records]
    assert count_people(dataset, no_store, ids, face_counter, "mean_faces") == (
        dict.fromkeys(ids, 4),
        "faces",
    )
    assert len(seen) == 3 * 4 and all(shape[2] == 3 for shape in seen)
