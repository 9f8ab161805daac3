"""ddsolver: the mean-field distributional dynamics of two-layer neural networks."""

from ._version import __version__ as __version__
from .api import compare as compare
from .api import open as open
from .api import solve as solve
from .api import sweep as sweep
from .api import train as train
from .models import Activation as Activation
from .models import Factorisation as Factorisation
from .models import GaussianInitial as GaussianInitial
from .models import IsotropicGaussians as IsotropicGaussians
from .models import paper_ramp as paper_ramp
from .results import Run as Run
from .results import SweepSummary as SweepSummary
from .schema import ConfigError as ConfigError
