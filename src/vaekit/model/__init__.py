"""Model components: encoders q(z|x), decoders p(x|z), priors p(z), and the models that compose them."""

from vaekit.model.compile import compile_trunks, should_compile
from vaekit.model.decoder import Decoder
from vaekit.model.draw import Draw
from vaekit.model.encoder import Encoder
from vaekit.model.ladder import LadderVAE
from vaekit.model.prior import MixturePrior, StandardNormalPrior, VampPrior
from vaekit.model.protocol import LatentModel, module_device
from vaekit.model.vae import VAE

__all__ = [
    "VAE",
    "Decoder",
    "Draw",
    "Encoder",
    "LadderVAE",
    "LatentModel",
    "MixturePrior",
    "StandardNormalPrior",
    "VampPrior",
    "compile_trunks",
    "should_compile",
    "module_device",
]
