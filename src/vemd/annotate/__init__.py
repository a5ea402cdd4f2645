"""Automatic structural annotation (``vemd annotate``): bodies and faces of every person.

``backends/`` turn one RGB frame into a :class:`~vemd.structure.annotations.FrameAnnotation`
(offline: dlib + MediaPipe shipped in registry packages; vitpose: the paper's ViTPose +
FaceAlignment from a local model cache). ``sources`` lists what to annotate, ``runner``
does it resumably over processes, ``summary`` gives the paper's Tables 1-2 figures,
``coco`` exchanges stores with COCO-WholeBody tools and ``preview`` draws frames to check.
"""
