"""Measured privacy: how much identity leaks from what a vemd model computes (``vemd audit``).

VE-MD's privacy is functional (paper §1, §3): only group-level outputs, no identity modelling.
That says nothing about how much the model's *representations* reveal about who is in the
scene, so vemd measures it:

* :mod:`~vemd.privacy.items` finds media of known identities (``DIR/<identity>/<files>``,
  ``DIR/<identity>/<recording>/<files>``, or EMO-DB's flat speaker-coded file names) and group
  scenes with their members;
* :mod:`~vemd.privacy.features` computes, for each item, the model's representations (public
  probabilities, FAP clip embedding, per-frame embedding, pooled latent, pooled SR; an audio
  branch's), the input itself as a trivial baseline (a grey thumbnail, MFCC means) and a real
  recognition embedding as the ceiling (dlib's face-recognition ResNet for faces, MFCC
  statistics for voices);
* :mod:`~vemd.privacy.grouping` groups items by recording (folders, else near-duplicates the
  audit finds), so that no recording is on both sides of a split;
* :mod:`~vemd.privacy.probes` fits re-identification probes (cosine 1-NN, logistic regression)
  on held-out recordings of the same identities, and presence probes on group scenes (ROC AUC);
* :mod:`~vemd.privacy.report` writes ``audit.json``, ``audit.md`` and the bar chart;
  :mod:`~vemd.privacy.audit` runs the whole audit.
"""
