"""SpacyNLP that loads the project's spaCy pipeline once per process.

Rasa's prediction graph holds SpacyNLP twice (the node that provides the
model and the node that processes messages), and each loads the pipeline
from disk: about 1.2 s of a Rasa process's start-up, which is how long a
killed instance stays out of service. Both nodes read the pipeline only, so
they can share one.
"""

from __future__ import annotations

from rasa.engine.recipes.default_recipe import DefaultV1Recipe
from rasa.nlu.utils import spacy_utils
from rasa.nlu.utils.spacy_utils import SpacyModel

_loaded: dict[str, SpacyModel] = {}


@DefaultV1Recipe.register(
    [
        DefaultV1Recipe.ComponentType.MODEL_LOADER,
        DefaultV1Recipe.ComponentType.MESSAGE_FEATURIZER,
    ],
    is_trainable=False,
    model_from="SpacyNLP",
)
class SpacyNLP(spacy_utils.SpacyNLP):
    """Configured in config.yml as ``bot.nlp.spacy_nlp.SpacyNLP``. It keeps
    Rasa's class name: components that need the spaCy model find their
    provider by that name."""

    @staticmethod
    def load_model(spacy_model_name: str) -> SpacyModel:
        model = _loaded.get(spacy_model_name)
        if model is None:
            model = spacy_utils.SpacyNLP.load_model(spacy_model_name)
            _loaded[spacy_model_name] = model
        return model
