"""ddsolver: the mean-field distributional dynamics of two-layer neural networks."""

from ._version import __version__ as __version__
from .models import Activation as Activation
from .models import Factorisation as Factorisation
from .models import GaussianInitial as GaussianInitial
from .models import IsotropicGaussians as IsotropicGaussians
from .models import paper_ramp as paper_ramp
