"""Music: melodies as a modality of vaekit (MusicVAE-style sequence VAEs, MIDI in and out).

Importing this package registers everything the rest of vaekit needs to know about melodies, through the
same plug-in points any new kind of data uses:

- the ``essen``, ``folk`` and ``oneills`` data sets and a file loader for ``.mid``/``.abc``/MusicXML files
  (:mod:`vaekit.data.registry`),
- the ``arch = "melody"`` model builder (:mod:`vaekit.build`),
- the :class:`~vaekit.music.modality.Melodies` modality (:mod:`vaekit.modalities`).

Modules: :mod:`~vaekit.music.tokens` (the token grid), :mod:`~vaekit.music.midi` (files),
:mod:`~vaekit.music.corpus` (music21's tune collections, parsed and cached),
:mod:`~vaekit.music.essen` and :mod:`~vaekit.music.folk` (the data sets), :mod:`~vaekit.music.model` (recurrent
encoder and decoders),
:mod:`~vaekit.music.build`, :mod:`~vaekit.music.apps` (sample, reconstruct, interpolate, write),
:mod:`~vaekit.music.evaluate` (accuracy and sample statistics), :mod:`~vaekit.music.modality`.
"""

from vaekit.build import register_arch
from vaekit.data.registry import register, register_file_loader
from vaekit.modalities import register_modality
from vaekit.music.build import build_melody_vae
from vaekit.music.essen import load_essen
from vaekit.music.folk import load_folk, load_oneills
from vaekit.music.midi import is_melody_path, load_melody_files
from vaekit.music.modality import Melodies

register("essen", options=("bars",))(load_essen)
register("folk", options=("bars",))(load_folk)
register("oneills", options=("bars",))(load_oneills)
register_file_loader(is_melody_path, load_melody_files, options=("bars",))
register_arch("melody", build_melody_vae)
register_modality(Melodies())

__all__ = ["Melodies", "build_melody_vae"]
