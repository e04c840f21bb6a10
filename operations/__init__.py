"""Plain, typed operation code: no pytest imports here (fixtures adapt it to pytest)."""
