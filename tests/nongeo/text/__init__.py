"""Tests of coarse-to-fine text classification (:mod:`torchgeo_lsr.nongeo.text`)."""
