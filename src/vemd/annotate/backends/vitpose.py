"""The ``vitpose`` backend, the paper's annotators: RT-DETR person boxes → ViTPose COCO-17
keypoints (Hugging Face ``transformers``) and ``face_alignment`` faces with 68 landmarks.

Needs the ``vitpose`` extra and the weights in the local caches (Hugging Face hub cache and
torch hub checkpoints). What is missing is checked before anything is built, so an offline
machine gets one clear message at once instead of a download that hangs.
"""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np

from vemd.annotate.backends.base import VISIBLE, Backend, BodyDetection, FaceDetection
from vemd.errors import VemdError

DETECTOR_REPO = "PekingU/rtdetr_r50vd_coco_o365"
POSE_REPO = "usyd-community/vitpose-base-simple"
# face_alignment's S3FD detector and 2D-FAN landmark network, as torch hub file-name prefixes.
FACE_ALIGNMENT_FILES = ("s3fd", "2DFAN4")
PACKAGES = {"transformers": "transformers", "face_alignment": "face-alignment"}
PERSON_LABEL = 0  # COCO "person"


def missing_packages() -> list[str]:
    """Pip names of the ``vitpose`` extra's packages that are not installed."""
    return [pip for module, pip in PACKAGES.items() if importlib.util.find_spec(module) is None]


def missing_weights() -> list[str]:
    """Weights not in the local caches: hub repo ids and face_alignment checkpoint names."""
    from huggingface_hub import try_to_load_from_cache

    missing = [
        repo
        for repo in (DETECTOR_REPO, POSE_REPO)
        if not isinstance(try_to_load_from_cache(repo, "config.json"), str)
    ]
    checkpoints = _torch_hub_dir() / "checkpoints"
    missing += [
        f"face_alignment {name}" for name in FACE_ALIGNMENT_FILES if not any(checkpoints.glob(f"{name}*"))
    ]
    return missing


def _torch_hub_dir() -> Path:
    import torch

    return Path(torch.hub.get_dir())


def vitpose_available() -> bool:
    """Whether the vitpose backend can be built here without the network."""
    return not missing_packages() and not missing_weights()


def unavailable_reason() -> str | None:
    """One line naming what to install or download, or None when all is here."""
    packages = missing_packages()
    if packages:
        return f"the vitpose annotator needs {', '.join(packages)}: pip install 'vemd[vitpose]'"
    weights = missing_weights()
    if weights:
        return (
            f"the vitpose annotator needs weights not in the local cache: {', '.join(weights)} "
            "(download them once on a machine with internet, e.g. huggingface-cli download "
            f"{DETECTOR_REPO} and {POSE_REPO}; face_alignment fetches its own on first use)"
        )
    return None


class VitPoseBackend(Backend):
    """Person boxes (RT-DETR) → ViTPose keypoints; faces and landmarks from face_alignment.

    Args:
        person_threshold: detector score to keep a person box.
        keypoint_threshold: ViTPose score below which a keypoint is absent.
        device: torch device for all three networks.
    """

    name = "vitpose"

    def __init__(
        self, *, person_threshold: float = 0.5, keypoint_threshold: float = 0.3, device: str = "cpu"
    ):
        reason = unavailable_reason()
        if reason:
            raise VemdError(reason)
        import face_alignment
        from transformers import AutoProcessor, RTDetrForObjectDetection, VitPoseForPoseEstimation

        self._det_processor = AutoProcessor.from_pretrained(DETECTOR_REPO, local_files_only=True)
        self._detector = RTDetrForObjectDetection.from_pretrained(DETECTOR_REPO, local_files_only=True).eval()
        self._pose_processor = AutoProcessor.from_pretrained(POSE_REPO, local_files_only=True)
        self._pose = VitPoseForPoseEstimation.from_pretrained(POSE_REPO, local_files_only=True).eval()
        self._detector.to(device)
        self._pose.to(device)
        landmarks_type = (
            getattr(face_alignment.LandmarksType, "TWO_D", None) or face_alignment.LandmarksType._2D
        )
        self._faces = face_alignment.FaceAlignment(landmarks_type, device=device, face_detector="sfd")
        self.device = device
        self.person_threshold = person_threshold
        self.keypoint_threshold = keypoint_threshold

    def detect_faces(self, image: np.ndarray) -> list[FaceDetection]:
        result = self._faces.get_landmarks_from_image(image, return_bboxes=True)
        landmarks, boxes = result[0], result[-1]
        if landmarks is None:
            return []
        faces = []
        for points, box in zip(landmarks, boxes):
            keypoints = np.concatenate([points[:, :2], np.full((68, 1), VISIBLE)], axis=1)
            faces.append(
                FaceDetection(box=np.asarray(box[:4], np.float32), landmarks=keypoints.astype(np.float32))
            )
        return faces

    def detect_bodies(self, image: np.ndarray, faces: list[FaceDetection]) -> list[BodyDetection]:
        import torch

        height, width = image.shape[:2]
        with torch.inference_mode():
            inputs = self._det_processor(images=image, return_tensors="pt").to(self.device)
            detections = self._det_processor.post_process_object_detection(
                self._detector(**inputs), target_sizes=[(height, width)], threshold=self.person_threshold
            )[0]
            boxes = detections["boxes"][detections["labels"] == PERSON_LABEL].cpu().numpy()
            if not len(boxes):
                return []
            boxes[:, 2:] -= boxes[:, :2]  # (x0, y0, x1, y1) → COCO (x, y, w, h)
            inputs = self._pose_processor(image, boxes=[boxes], return_tensors="pt").to(self.device)
            poses = self._pose_processor.post_process_pose_estimation(self._pose(**inputs), boxes=[boxes])[0]
        bodies = []
        for pose in poses:
            points = np.zeros((17, 3), np.float32)
            seen = pose["scores"].cpu().numpy() >= self.keypoint_threshold
            points[seen, :2] = pose["keypoints"].cpu().numpy()[seen]
            points[seen, 2] = VISIBLE
            bodies.append(BodyDetection(keypoints=points))
        return bodies
