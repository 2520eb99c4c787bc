// Finite-difference gradient checker (see gradcheck.h).
