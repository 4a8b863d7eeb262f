"""vaekit: variational autoencoders in PyTorch, measured in nats.

Build a VAE from a config or from components, train it on your tensors or a named data set, load it back
from its run folder, and encode, decode, sample and reconstruct::

    import vaekit
    vae = vaekit.build_vae((1, 8, 8), latent_dim=8)
    history = vaekit.fit(vae, x, epochs=50, out="runs/mine")
    vae = vaekit.load("runs/mine")

A trained run folder opens once into a :class:`Run` (config, model, data, metrics, kind of data)::

    run = vaekit.Run.open("runs/mine")
    vae, held_out = run.model(), run.data("test")

and explore its latent space live in a browser (``explorer.url``; ``explorer.stop()`` ends it)::

    explorer = vaekit.explore(run)
"""

__version__ = "0.1.0"

import vaekit.music  # noqa: E402, F401, I001  (registers melodies: modality, essen data set, MIDI files)
from vaekit.apps.evaluation import evaluate_all, evaluate_run  # noqa: E402
from vaekit.apps.fit import fit, train  # noqa: E402
from vaekit.apps.generation import decode, encode, reconstruct, sample, sample_by_label  # noqa: E402
from vaekit.apps.latent import interpolate, latent_map, traverse  # noqa: E402
from vaekit.apps.report import write_report  # noqa: E402
from vaekit.build import build_vae  # noqa: E402
from vaekit.config import DataConfig, ModelConfig, ObjectiveConfig, RunConfig, TrainConfig  # noqa: E402
from vaekit.data import Dataset, load_dataset  # noqa: E402
from vaekit.errors import DataError, RunFolderError, TrainingError, VaekitError  # noqa: E402
from vaekit.evaluate import MIG, Evaluation, evaluate_model, mutual_information_gap  # noqa: E402
from vaekit.modalities import Modality, register_modality  # noqa: E402
from vaekit.model import VAE, Decoder, Encoder, LadderVAE, MixturePrior, StandardNormalPrior, VampPrior  # noqa: E402
from vaekit.objectives import Loss, beta_tc, elbo, iwae  # noqa: E402
from vaekit.run import Run, load, save  # noqa: E402
from vaekit.server import explore  # noqa: E402
from vaekit.train import RunFolder, Trainer  # noqa: E402

__all__ = [
    "MIG",
    "Modality",
    "Run",
    "VAE",
    "DataConfig",
    "DataError",
    "Dataset",
    "Decoder",
    "Encoder",
    "Evaluation",
    "LadderVAE",
    "MixturePrior",
    "Loss",
    "ModelConfig",
    "ObjectiveConfig",
    "RunConfig",
    "RunFolder",
    "RunFolderError",
    "StandardNormalPrior",
    "TrainConfig",
    "Trainer",
    "TrainingError",
    "VaekitError",
    "VampPrior",
    "__version__",
    "beta_tc",
    "build_vae",
    "decode",
    "elbo",
    "encode",
    "evaluate_all",
    "evaluate_model",
    "evaluate_run",
    "explore",
    "fit",
    "interpolate",
    "iwae",
    "latent_map",
    "load",
    "load_dataset",
    "mutual_information_gap",
    "reconstruct",
    "register_modality",
    "sample",
    "save",
    "sample_by_label",
    "train",
    "traverse",
    "write_report",
]
