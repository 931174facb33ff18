/* The WKB reader shared by gis/query/_cells.c (single lookups) and gis/query/_wkb.c (the
 * index build): little-endian 2D Polygon and MultiPolygon as PostGIS's ST_AsBinary gives
 * them; anything else (big-endian, Z/M, another type, short) is refused, for the caller to
 * leave to GEOS.  Included, not linked: each module gets its own static copy. */
#ifndef GRIDMAP_WKB_H
#define GRIDMAP_WKB_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

typedef struct {
    const uint8_t *at, *end;
} Reader;

static inline int read_u32(Reader *r, uint32_t *v) {
    if (r->end - r->at < 4) return -1;
    memcpy(v, r->at, 4);
    r->at += 4;
    return 0;
}

/* Vertex i of a ring's bytes. */
static inline void vertex(const uint8_t *p, uint32_t i, double *x, double *y) {
    memcpy(x, p + 16 * (size_t)i, 8);
    memcpy(y, p + 16 * (size_t)i + 8, 8);
}

/* A ring's vertex count and its first vertex's bytes (16 a vertex), the reader moved past
 * them; NULL when the WKB is short. */
static inline const uint8_t *ring_vertices(Reader *r, uint32_t *n) {
    if (read_u32(r, n) < 0 || (uint64_t)(r->end - r->at) < (uint64_t)*n * 16) return NULL;
    const uint8_t *p = r->at;
    r->at += (size_t)*n * 16;
    return p;
}

/* The sum of what `ring` gives for every ring of a WKB polygon or multipolygon (called with
 * the ring's number within its part: 0 a shell, more a hole); -1 when a ring gives -1 or the
 * WKB is one this reader does not take. */
static inline int wkb_rings(const uint8_t *wkb, Py_ssize_t size,
                            int (*ring)(Reader *, void *, uint32_t), void *query) {
    Reader r = {wkb, wkb + size};
    uint32_t type, parts = 1;
    if (size < 5 || r.at[0] != 1) return -1;
    r.at++;
    if (read_u32(&r, &type) < 0) return -1;
    if (type == 6) {
        if (read_u32(&r, &parts) < 0) return -1;
    } else if (type != 3) {
        return -1;
    }
    int sum = 0;
    for (uint32_t k = 0; k < parts; k++) {
        if (type == 6) {
            uint32_t part_type;
            if (r.end - r.at < 1 || r.at[0] != 1) return -1;
            r.at++;
            if (read_u32(&r, &part_type) < 0 || part_type != 3) return -1;
        }
        uint32_t rings;
        if (read_u32(&r, &rings) < 0) return -1;
        for (uint32_t j = 0; j < rings; j++) {
            int c = ring(&r, query, j);
            if (c < 0) return -1;
            sum += c;
        }
    }
    return sum;
}

/* ------------------------------------------------------------------ point in polygon */

#define EDGE_GUARD 1e-9 /* degrees (~0.1 mm) */

/* Whether the edge crosses the ray from (x, y) towards +x (a vertex counts above). */
static inline int crosses(double x1, double y1, double x2, double y2, double x, double y) {
    return (y1 > y) != (y2 > y) && x < x1 + (y - y1) * (x2 - x1) / (y2 - y1);
}

typedef struct {
    double x, y;
} PointQuery;

/* One ring's crossings of the ray from (x, y) towards +x; -1 when the point is within the
 * guard of an edge or the WKB is short. */
static inline int ring_crossings(Reader *r, void *query, uint32_t j) {
    (void)j;
    const PointQuery *q = query;
    double x = q->x, y = q->y;
    uint32_t n;
    const uint8_t *p = ring_vertices(r, &n);
    if (p == NULL) return -1;
    int crossings = 0;
    double x1, y1, x2, y2;
    if (n == 0) return 0;
    vertex(p, 0, &x1, &y1);
    double below = y - EDGE_GUARD, above = y + EDGE_GUARD;
    for (uint32_t i = 1; i < n; i++, x1 = x2, y1 = y2) {
        vertex(p, i, &x2, &y2);
        /* most edges lie wholly above or below the guard's band: neither near the point nor
         * crossing its ray (the tests below would say so, slower) */
        if ((y1 > above && y2 > above) || (y1 < below && y2 < below)) continue;
        double lo_x = x1 < x2 ? x1 : x2, hi_x = x1 < x2 ? x2 : x1;
        double lo_y = y1 < y2 ? y1 : y2, hi_y = y1 < y2 ? y2 : y1;
        if (x >= lo_x - EDGE_GUARD && x <= hi_x + EDGE_GUARD && y >= lo_y - EDGE_GUARD &&
            y <= hi_y + EDGE_GUARD) {
            /* near the edge's box: its distance to the segment */
            double dx = x2 - x1, dy = y2 - y1, length = dx * dx + dy * dy;
            double t = length > 0 ? ((x - x1) * dx + (y - y1) * dy) / length : 0.0;
            t = t < 0 ? 0 : t > 1 ? 1 : t;
            double ex = x1 + t * dx - x, ey = y1 + t * dy - y;
            if (ex * ex + ey * ey <= EDGE_GUARD * EDGE_GUARD) return -1;
        }
        if (crosses(x1, y1, x2, y2, x, y)) crossings++;
    }
    return crossings;
}

/* 1: the WKB polygon or multipolygon covers the point, 0: it does not, -1: undecided (near an
 * edge, or a WKB this reader does not take). */
static inline int wkb_covers(const uint8_t *wkb, Py_ssize_t size, double x, double y) {
    PointQuery q = {x, y};
    int crossings = wkb_rings(wkb, size, ring_crossings, &q);
    return crossings < 0 ? -1 : crossings & 1;
}

#endif
