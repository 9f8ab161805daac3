"""Physics: activations, Gaussian integrals, data laws and their reduced V/U kernels."""

from .activations import Activation as Activation
from .activations import paper_ramp as paper_ramp
from .anisotropic import AnisotropicGaussians as AnisotropicGaussians
from .factorisation import Factorisation as Factorisation
from .initial import AnisotropicInitial as AnisotropicInitial
from .initial import GaussianInitial as GaussianInitial
from .initial import TeacherStudentInitial as TeacherStudentInitial
from .isotropic import IsotropicGaussians as IsotropicGaussians
from .teacher_student import TeacherStudent as TeacherStudent
