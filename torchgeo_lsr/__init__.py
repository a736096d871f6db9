"""torchgeo-lsr: label super-resolution from prior beliefs, built on TorchGeo.

Implements implicit posterior models (Rolf, Malkin et al., UAI 2022): a network
``q(l | x)`` is trained against per-pixel prior beliefs ``p_i(l)`` through the implied
posterior ``r_i(l) ∝ p_i(l) q_i(l) / Σ_j q_j(l)``.
"""

__version__ = '0.1.0.dev0'

__all__ = ('__version__',)
