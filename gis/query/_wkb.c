/* gis.query._wkb — the index build's reads of WKB polygons, compiled (issue 16).
 *
 * The lookup index of a province reads 1 000 000 grids of ~100 vertices (1.6 GB of WKB, held
 * once as the index's blob).  Decoding each into GEOS for its bounds took ~6 s, and numpy's
 * gathering of their outlines ~4.5 s a pass (two passes: the cells and the outer edges).
 * Here, with the reader of gis/query/_wkb.h (what it refuses is left to shapely by the
 * caller, gis/query/cell_shapes.py), the GIL released while reading:
 *
 * - bounds(blob, offsets, out): each polygon's (x0, y0, x1, y1); NaN for one it refuses or
 *   with no vertex (empty), or with a NaN coordinate.  Returns how many are NaN.
 * - covers(blob, offsets, polygon, x, y, out): per pair, whether the polygon covers the
 *   point (1, 0), by the crossing number of gis/query/_point.c's lookups; -1 (undecided) for a
 *   point within EDGE_GUARD of an edge or a polygon it refuses — the caller asks GEOS.  The
 *   cell index's free runs are labelled so (a run's centre lies half a cell from any edge):
 *   decoding a province's grids into GEOS for it took ~9 s.  Returns how many are undecided.
 * - counts(blob, offsets, vertices, rings): each polygon's vertices and rings; -1 for one it
 *   refuses.  Returns how many it refuses.
 * - outline(blob, offsets, first, coords, ring, owner, hole): the polygons it reads (those
 *   counts did not refuse), ring after ring: each vertex (x, y) into coords and its ring's
 *   number (from 0, in order) into ring; each ring's polygon (first + its position among the
 *   offsets) into owner and whether it is a hole (not the first ring of its part) into hole.
 *   Returns (vertices, rings) written; the arrays must hold the counts' sums.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "_wkb.h"

typedef struct {
    double x0, y0, x1, y1;
} Bounds;

/* One ring's vertices added to the bounds; -1 when the WKB is short or a coordinate NaN. */
static int ring_bounds(Reader *r, void *query, uint32_t j) {
    (void)j;
    Bounds *b = query;
    uint32_t n;
    const uint8_t *p = ring_vertices(r, &n);
    if (p == NULL) return -1;
    for (uint32_t i = 0; i < n; i++) {
        double x, y;
        vertex(p, i, &x, &y);
        if (isnan(x) || isnan(y)) return -1;
        b->x0 = x < b->x0 ? x : b->x0;
        b->y0 = y < b->y0 ? y : b->y0;
        b->x1 = x > b->x1 ? x : b->x1;
        b->y1 = y > b->y1 ? y : b->y1;
    }
    return 0;
}

typedef struct {
    int64_t vertices, rings;
} Counts;

static int ring_count(Reader *r, void *query, uint32_t j) {
    (void)j;
    Counts *c = query;
    uint32_t n;
    if (ring_vertices(r, &n) == NULL) return -1;
    c->vertices += n;
    c->rings++;
    return 0;
}

typedef struct {
    double *coords;
    int64_t *ring, *owner;
    uint8_t *hole;
    int64_t vertices, rings, polygon, room_vertices, room_rings;
} Outline;

static int ring_outline(Reader *r, void *query, uint32_t j) {
    Outline *o = query;
    uint32_t n;
    const uint8_t *p = ring_vertices(r, &n);
    if (p == NULL || o->vertices + n > o->room_vertices || o->rings >= o->room_rings) return -1;
    memcpy(o->coords + 2 * o->vertices, p, 16 * (size_t)n);
    for (uint32_t i = 0; i < n; i++) o->ring[o->vertices + i] = o->rings;
    o->owner[o->rings] = o->polygon;
    o->hole[o->rings] = j > 0;
    o->vertices += n;
    o->rings++;
    return 0;
}

/* The blob and offsets (int64, n + 1) of args[0] and args[1]: n, or -1 with an error set
 * (nothing held then). */
static Py_ssize_t take_polygons(PyObject *const *args, Py_buffer *blob, Py_buffer *offsets) {
    if (take(args[0], blob, 1, "blob") < 0) return -1;
    if (take(args[1], offsets, 8, "offsets") < 0) {
        PyBuffer_Release(blob);
        return -1;
    }
    Py_ssize_t n = offsets->len / 8 - 1;
    const int64_t *at = offsets->buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > blob->len) n = -2;
    if (n < 0) {
        PyBuffer_Release(blob);
        PyBuffer_Release(offsets);
        PyErr_SetString(PyExc_ValueError, "offsets: rising, within the blob, at least one");
        return -1;
    }
    return n;
}

/* Writable buffers of `count` arrays of the item sizes given; -1 with an error set (nothing
 * held then). */
static int take_out(PyObject *const *args, Py_buffer *views, const Py_ssize_t *sizes, int count) {
    for (int i = 0; i < count; i++) {
        if (PyObject_GetBuffer(args[i], &views[i], PyBUF_C_CONTIGUOUS | PyBUF_WRITABLE) < 0 ||
            views[i].itemsize != sizes[i]) {
            if (!PyErr_Occurred()) {
                PyErr_Format(PyExc_TypeError, "%zd-byte items expected", sizes[i]);
                PyBuffer_Release(&views[i]);
            }
            while (i-- > 0) PyBuffer_Release(&views[i]);
            return -1;
        }
    }
    return 0;
}

static void release(Py_buffer *views, int count) {
    for (int i = 0; i < count; i++) PyBuffer_Release(&views[i]);
}

static PyObject *bounds(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "bounds(blob, offsets, out)");
        return NULL;
    }
    Py_buffer in[2], out;
    static const Py_ssize_t sizes[1] = {8};
    Py_ssize_t n = take_polygons(args, &in[0], &in[1]);
    if (n < 0) return NULL;
    if (take_out(args + 2, &out, sizes, 1) < 0) {
        release(in, 2);
        return NULL;
    }
    if (out.len != n * 4 * (Py_ssize_t)sizeof(double)) {
        release(in, 2);
        release(&out, 1);
        PyErr_SetString(PyExc_ValueError, "out: 4 doubles a polygon of the offsets");
        return NULL;
    }
    Py_ssize_t left = 0;
    const int64_t *at = in[1].buf;
    const uint8_t *bytes = in[0].buf;
    double *o = out.buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++, o += 4) {
        Bounds b = {INFINITY, INFINITY, -INFINITY, -INFINITY};
        if (wkb_rings(bytes + at[i], at[i + 1] - at[i], ring_bounds, &b) < 0 || b.x0 > b.x1) {
            o[0] = o[1] = o[2] = o[3] = NAN;
            left++;
            continue;
        }
        o[0] = b.x0;
        o[1] = b.y0;
        o[2] = b.x1;
        o[3] = b.y1;
    }
    Py_END_ALLOW_THREADS
    release(in, 2);
    release(&out, 1);
    return PyLong_FromSsize_t(left);
}

static PyObject *counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "counts(blob, offsets, vertices, rings)");
        return NULL;
    }
    Py_buffer in[2], out[2];
    static const Py_ssize_t sizes[2] = {8, 8};
    Py_ssize_t n = take_polygons(args, &in[0], &in[1]);
    if (n < 0) return NULL;
    if (take_out(args + 2, out, sizes, 2) < 0) {
        release(in, 2);
        return NULL;
    }
    if (out[0].len != n * 8 || out[1].len != n * 8) {
        release(in, 2);
        release(out, 2);
        PyErr_SetString(PyExc_ValueError, "vertices, rings: one a polygon of the offsets");
        return NULL;
    }
    Py_ssize_t refused = 0;
    const int64_t *at = in[1].buf;
    const uint8_t *bytes = in[0].buf;
    int64_t *vertices = out[0].buf, *rings = out[1].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n; i++) {
        Counts c = {0, 0};
        if (wkb_rings(bytes + at[i], at[i + 1] - at[i], ring_count, &c) < 0) {
            c.vertices = c.rings = -1;
            refused++;
        }
        vertices[i] = c.vertices;
        rings[i] = c.rings;
    }
    Py_END_ALLOW_THREADS
    release(in, 2);
    release(out, 2);
    return PyLong_FromSsize_t(refused);
}

static PyObject *outline(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError, "outline(blob, offsets, first, coords, ring, owner, hole)");
        return NULL;
    }
    int64_t first = PyLong_AsLongLong(args[2]);
    if (first == -1 && PyErr_Occurred()) return NULL;
    Py_buffer in[2], out[4];
    static const Py_ssize_t sizes[4] = {8, 8, 8, 1};
    Py_ssize_t n = take_polygons(args, &in[0], &in[1]);
    if (n < 0) return NULL;
    PyObject *const outs[4] = {args[3], args[4], args[5], args[6]};
    if (take_out(outs, out, sizes, 4) < 0) {
        release(in, 2);
        return NULL;
    }
    Outline o = {out[0].buf, out[1].buf, out[2].buf, out[3].buf, 0, 0, 0, out[1].len / 8,
                 out[2].len / 8};
    int short_of_room = out[0].len != 2 * out[1].len || out[3].len != out[2].len / 8;
    const int64_t *at = in[1].buf;
    const uint8_t *bytes = in[0].buf;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < n && !short_of_room; i++) {
        Counts c = {0, 0};
        const uint8_t *wkb = bytes + at[i];
        Py_ssize_t size = at[i + 1] - at[i];
        if (wkb_rings(wkb, size, ring_count, &c) < 0) continue; /* refused: left to shapely */
        o.polygon = first + i;
        if (wkb_rings(wkb, size, ring_outline, &o) < 0) short_of_room = 1;
    }
    Py_END_ALLOW_THREADS
    release(in, 2);
    release(out, 4);
    if (short_of_room) {
        PyErr_SetString(PyExc_ValueError,
                        "outline: coords 2 doubles a vertex of ring, hole one a ring of owner, "
                        "room for the counts");
        return NULL;
    }
    return Py_BuildValue("(LL)", (long long)o.vertices, (long long)o.rings);
}

static PyObject *covers(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "covers(blob, offsets, polygon, x, y, out)");
        return NULL;
    }
    Py_buffer in[5], out;
    static const Py_ssize_t sizes[1] = {1};
    Py_ssize_t n = take_polygons(args, &in[0], &in[1]);
    if (n < 0) return NULL;
    static const Py_ssize_t items[3] = {8, 8, 8};
    static const char *names[3] = {"polygon", "x", "y"};
    for (int i = 0; i < 3; i++)
        if (take(args[2 + i], &in[2 + i], items[i], names[i]) < 0) {
            release(in, 2 + i);
            return NULL;
        }
    if (take_out(args + 5, &out, sizes, 1) < 0) {
        release(in, 5);
        return NULL;
    }
    Py_ssize_t pairs = in[2].len / 8;
    const int64_t *polygon = in[2].buf;
    const char *problem = NULL;
    if (in[3].len != pairs * 8 || in[4].len != pairs * 8 || out.len != pairs)
        problem = "covers: polygon, x, y and out one a pair";
    for (Py_ssize_t i = 0; problem == NULL && i < pairs; i++)
        if (polygon[i] < 0 || polygon[i] >= n) problem = "covers: a polygon not in the offsets";
    if (problem != NULL) {
        release(in, 5);
        release(&out, 1);
        PyErr_SetString(PyExc_ValueError, problem);
        return NULL;
    }
    const int64_t *at = in[1].buf;
    const uint8_t *bytes = in[0].buf;
    const double *x = in[3].buf, *y = in[4].buf;
    int8_t *o = out.buf;
    Py_ssize_t undecided = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < pairs; i++) {
        int64_t k = polygon[i];
        o[i] = (int8_t)wkb_covers(bytes + at[k], at[k + 1] - at[k], x[i], y[i]);
        undecided += o[i] < 0;
    }
    Py_END_ALLOW_THREADS
    release(in, 5);
    release(&out, 1);
    return PyLong_FromSsize_t(undecided);
}

static PyMethodDef methods[] = {
    {"bounds", (PyCFunction)(void (*)(void))bounds, METH_FASTCALL,
     "bounds(blob, offsets, out) -> how many are NaN: see the module."},
    {"covers", (PyCFunction)(void (*)(void))covers, METH_FASTCALL,
     "covers(blob, offsets, polygon, x, y, out) -> how many are undecided: see the module."},
    {"counts", (PyCFunction)(void (*)(void))counts, METH_FASTCALL,
     "counts(blob, offsets, vertices, rings) -> how many are refused: see the module."},
    {"outline", (PyCFunction)(void (*)(void))outline, METH_FASTCALL,
     "outline(blob, offsets, first, coords, ring, owner, hole) -> (vertices, rings): see the "
     "module."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wkb",
                                    "The index build's reads of WKB polygons, compiled.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__wkb(void) { return PyModule_Create(&module); }
