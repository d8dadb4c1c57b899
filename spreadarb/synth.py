"""``spreadarb.synth``: the synthetic market generator (see ``spreadarb.data.synth``)."""

from spreadarb.data.synth import SynthConfig, SynthSummary, generate

__all__ = ["SynthConfig", "SynthSummary", "generate"]
