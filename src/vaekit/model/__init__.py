"""Model components: encoders q(z|x), decoders p(x|z), priors p(z), and the VAE that composes them."""

from vaekit.model.decoder import Decoder
from vaekit.model.encoder import Encoder
from vaekit.model.prior import StandardNormalPrior
from vaekit.model.vae import VAE

__all__ = ["VAE", "Decoder", "Encoder", "StandardNormalPrior"]
