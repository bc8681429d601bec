/* glue.h - what both extension modules (enec._enec, enec._npu) need from Python: error mapping and shape parsing. */
#ifndef ENEC_PY_GLUE_H
#define ENEC_PY_GLUE_H
#include <Python.h>
#include "../enec.h"

/* Raise the Python exception a caller expects for a codec error; `who`
 * prefixes the message ("enec", "enec.npu"). Returns NULL. */
static inline PyObject *enec_py_raise(size_t code, PyObject *corrupt_error, const char *who)
{
    const char *name = enec_error_name(code);
    switch (enec_get_error(code)) {
    case ENEC_ERR_CORRUPT: PyErr_Format(corrupt_error, "%s: %s", who, name); break;
    case ENEC_ERR_NOMEM: PyErr_NoMemory(); break;
    case ENEC_ERR_THREADS: PyErr_Format(PyExc_RuntimeError, "%s: %s", who, name); break;
    case ENEC_ERR_BACKEND: PyErr_Format(PyExc_ValueError, "%s: %s (see enec.backends())", who, name); break;
    default: PyErr_Format(PyExc_ValueError, "%s: %s", who, name); break;
    }
    return NULL;
}

/* t->ndim and t->shape from a sequence of non-negative ints; -1 with an exception set. */
static inline int enec_py_shape(PyObject *shape, enec_tensor *t, const char *who)
{
    PyObject *seq = PySequence_Fast(shape, "shape must be a sequence");
    if (!seq) return -1;
    Py_ssize_t nd = PySequence_Fast_GET_SIZE(seq);
    if (nd > ENEC_MAX_NDIM) {
        Py_DECREF(seq);
        PyErr_Format(PyExc_ValueError, "%s: at most %d dimensions", who, ENEC_MAX_NDIM);
        return -1;
    }
    t->ndim = (uint32_t)nd;
    for (Py_ssize_t i = 0; i < nd; i++) {
        unsigned long long v = PyLong_AsUnsignedLongLong(PySequence_Fast_GET_ITEM(seq, i));
        if (v == (unsigned long long)-1 && PyErr_Occurred()) {
            Py_DECREF(seq);
            return -1;
        }
        t->shape[i] = v;
    }
    Py_DECREF(seq);
    return 0;
}

#endif
