"""Tests of the scripts that draw the bundled data (:mod:`torchgeo_lsr.nongeo.data`)."""
