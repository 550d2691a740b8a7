"""cardiomm: raw multi-coil cardiac MRI k-space to phenotypes, biomarkers and an agreement audit."""

__version__ = "0.1.0"
