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
 *   point (1, 0), by the crossing number of gis/query/_cells.c's lookups; -1 (undecided) for a
 *   point within EDGE_GUARD of an edge or a polygon it refuses — the caller asks GEOS.  The
 *   cell index's free runs are labelled so (a run's centre lies half a cell from any edge):
 *   decoding a province's grids into GEOS for it took ~9 s.  Returns how many are undecided.
 * - counts(blob, offsets, vertices, rings): each polygon's vertices and rings; -1 for one it
 *   refuses.  Returns how many it refuses.
 * - outline(blob, offsets, coords, ring, owner, hole, first): the polygons it reads (those
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

#include "_buffers.h"
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

/* How many polygons the offsets (int64, n + 1) give in the blob, or -1 with an error set. */
static Py_ssize_t polygons(const Py_buffer *blob, const Py_buffer *offsets) {
    Py_ssize_t n = offsets->len / 8 - 1;
    const int64_t *at = offsets->buf;
    for (Py_ssize_t i = 0; i < n; i++)
        if (at[i] < 0 || at[i + 1] < at[i] || at[i + 1] > blob->len) n = -1;
    if (n < 0)
        PyErr_SetString(PyExc_ValueError, "offsets: rising, within the blob, at least one");
    return n;
}

static PyObject *bounds(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    static const Want wants[3] = {{"blob", 1, 0}, {"offsets", 8, 0}, {"out", 8, 1}};
    Py_buffer v[3];
    if (nargs != 3) {
        PyErr_SetString(PyExc_TypeError, "bounds(blob, offsets, out)");
        return NULL;
    }
    if (take_all(args, v, wants, 3) < 0) return NULL;
    Py_ssize_t n = polygons(&v[0], &v[1]);
    if (n >= 0 && v[2].len != n * 4 * (Py_ssize_t)sizeof(double)) {
        PyErr_SetString(PyExc_ValueError, "out: 4 doubles a polygon of the offsets");
        n = -1;
    }
    if (n < 0) {
        release_all(v, 3);
        return NULL;
    }
    Py_ssize_t left = 0;
    const int64_t *at = v[1].buf;
    const uint8_t *bytes = v[0].buf;
    double *o = v[2].buf;
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
    release_all(v, 3);
    return PyLong_FromSsize_t(left);
}

static PyObject *counts(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    static const Want wants[4] = {
        {"blob", 1, 0}, {"offsets", 8, 0}, {"vertices", 8, 1}, {"rings", 8, 1}};
    Py_buffer v[4];
    if (nargs != 4) {
        PyErr_SetString(PyExc_TypeError, "counts(blob, offsets, vertices, rings)");
        return NULL;
    }
    if (take_all(args, v, wants, 4) < 0) return NULL;
    Py_ssize_t n = polygons(&v[0], &v[1]);
    if (n >= 0 && (v[2].len != n * 8 || v[3].len != n * 8)) {
        PyErr_SetString(PyExc_ValueError, "vertices, rings: one a polygon of the offsets");
        n = -1;
    }
    if (n < 0) {
        release_all(v, 4);
        return NULL;
    }
    Py_ssize_t refused = 0;
    const int64_t *at = v[1].buf;
    const uint8_t *bytes = v[0].buf;
    int64_t *vertices = v[2].buf, *rings = v[3].buf;
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
    release_all(v, 4);
    return PyLong_FromSsize_t(refused);
}

static PyObject *outline(PyObject *module, PyObject *const *args, Py_ssize_t nargs) {
    (void)module;
    static const Want wants[6] = {{"blob", 1, 0},   {"offsets", 8, 0}, {"coords", 8, 1},
                                  {"ring", 8, 1},   {"owner", 8, 1},   {"hole", 1, 1}};
    Py_buffer v[6];
    if (nargs != 7) {
        PyErr_SetString(PyExc_TypeError,
                        "outline(blob, offsets, coords, ring, owner, hole, first)");
        return NULL;
    }
    int64_t first = PyLong_AsLongLong(args[6]);
    if ((first == -1 && PyErr_Occurred()) || take_all(args, v, wants, 6) < 0) return NULL;
    Py_ssize_t n = polygons(&v[0], &v[1]);
    if (n < 0) {
        release_all(v, 6);
        return NULL;
    }
    Outline o = {v[2].buf, v[3].buf, v[4].buf, v[5].buf, 0, 0, 0, v[3].len / 8, v[4].len / 8};
    int short_of_room = v[2].len != 2 * v[3].len || v[5].len != v[4].len / 8;
    const int64_t *at = v[1].buf;
    const uint8_t *bytes = v[0].buf;
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
    release_all(v, 6);
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
    static const Want wants[6] = {{"blob", 1, 0}, {"offsets", 8, 0}, {"polygon", 8, 0},
                                  {"x", 8, 0},    {"y", 8, 0},       {"out", 1, 1}};
    Py_buffer v[6];
    if (nargs != 6) {
        PyErr_SetString(PyExc_TypeError, "covers(blob, offsets, polygon, x, y, out)");
        return NULL;
    }
    if (take_all(args, v, wants, 6) < 0) return NULL;
    Py_ssize_t n = polygons(&v[0], &v[1]), pairs = v[2].len / 8;
    const int64_t *polygon = v[2].buf;
    const char *problem = NULL;
    if (n >= 0 && (v[3].len != pairs * 8 || v[4].len != pairs * 8 || v[5].len != pairs))
        problem = "covers: polygon, x, y and out one a pair";
    for (Py_ssize_t i = 0; n >= 0 && problem == NULL && i < pairs; i++)
        if (polygon[i] < 0 || polygon[i] >= n) problem = "covers: a polygon not in the offsets";
    if (n < 0 || problem != NULL) {
        if (problem != NULL) PyErr_SetString(PyExc_ValueError, problem);
        release_all(v, 6);
        return NULL;
    }
    const int64_t *at = v[1].buf;
    const uint8_t *bytes = v[0].buf;
    const double *x = v[3].buf, *y = v[4].buf;
    int8_t *o = v[5].buf;
    Py_ssize_t undecided = 0;
    Py_BEGIN_ALLOW_THREADS
    for (Py_ssize_t i = 0; i < pairs; i++) {
        int64_t k = polygon[i];
        o[i] = (int8_t)wkb_covers(bytes + at[k], at[k + 1] - at[k], x[i], y[i]);
        undecided += o[i] < 0;
    }
    Py_END_ALLOW_THREADS
    release_all(v, 6);
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
     "outline(blob, offsets, coords, ring, owner, hole, first) -> (vertices, rings): see the "
     "module."},
    {NULL, NULL, 0, NULL}};

static struct PyModuleDef module = {PyModuleDef_HEAD_INIT, "_wkb",
                                    "The index build's reads of WKB polygons, compiled.", -1,
                                    methods};

PyMODINIT_FUNC PyInit__wkb(void) { return PyModule_Create(&module); }
