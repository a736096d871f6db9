"""Tests of the image-prior task (:mod:`torchgeo_lsr.nongeo.image_prior`)."""
