/*
 * format.h - the .ptl file layout (see docs/format.md), shared by the writer
 * (csrc/compiler/writer.c) and the reader (csrc/runtime/reader.c).
 *
 * All integers are little-endian. The file is:
 *   header (64 bytes) | section table (32 bytes per section) | sections,
 * each section starting at a 64-byte aligned offset and covered by a CRC-32.
 */
#ifndef PTLITE_FORMAT_H
#define PTLITE_FORMAT_H

#include "graph.h"

#define PTL_FILE_MAGIC "PTLITE\r\n" /* 8 bytes; \r\n catches text-mode mangling */
#define PTL_FORMAT_MAJOR 1          /* a reader refuses a newer major version */
#define PTL_FORMAT_MINOR 1          /* newest minor version this code reads and writes */
/* Header flags (bytes 12..15): features a file needs. Since 1.1 a reader refuses
 * a file with a flag it does not know, naming it, instead of misreading it. */
#define PTL_FILE_FLAG_QPARAMS 0x1u /* 1.1: values may carry quantization parameters */
#define PTL_FILE_KNOWN_FLAGS PTL_FILE_FLAG_QPARAMS
/* Value flags (the u8 after ndim in a value record). */
#define PTL_VALUE_FLAG_QPARAMS 0x1u /* a quantization record follows the value record */
#define PTL_QPARAMS_TAG 0xFF        /* first byte of that record (see docs/format.md) */
#define PTL_QPARAMS_ZERO_ZPS 0x1    /* record flag: every zero point is 0 and none is stored */
#define PTL_FILE_ALIGN 64
#define PTL_HEADER_SIZE 64
#define PTL_SECTION_ENTRY_SIZE 32
#define PTL_MAX_SECTIONS 64

typedef enum ptl_section_kind {
  PTL_SECTION_GRAPH = 1,    /* values, nodes, inputs, outputs */
  PTL_SECTION_METADATA = 2, /* key/value strings: names, user metadata, extra files */
  PTL_SECTION_WEIGHTS = 3,  /* raw constant bytes, each 64-byte aligned */
} ptl_section_kind;

/* A key/value pair of the metadata section (bytes, not necessarily text). */
typedef struct ptl_meta_entry {
  char *key;
  uint8_t *value;
  size_t size;
} ptl_meta_entry;

typedef struct ptl_meta {
  ptl_meta_entry *entries;
  int32_t count, cap;
} ptl_meta;

ptl_status ptl_meta_set(ptl_meta *m, const char *key, const void *value, size_t size);
const ptl_meta_entry *ptl_meta_get(const ptl_meta *m, const char *key);
void ptl_meta_clear(ptl_meta *m);

/* Checks one value's quantization parameters as a .ptl file may hold them:
 * a known scheme, axis 0 and one entry per tensor, 0 <= axis < ndim and
 * shape[axis] entries per channel, positive finite scales and zero points in the
 * dtype's range. On failure returns `status` with a message starting with
 * `prefix` and naming value `id` (and `name`, if any). Shared by the writer (which
 * refuses to save what the reader would refuse to load) and the reader. */
ptl_status ptl_format_check_qparams(ptl_status status, const char *prefix, int32_t id,
                                    const char *name, ptl_dtype dtype, int ndim,
                                    const int64_t *shape, uint32_t scheme, int64_t axis,
                                    int64_t count, const float *scale, const int32_t *zero_point);

/* Serialises graph + metadata into a malloc'd buffer (caller frees). */
ptl_status ptl_format_write(const ptl_graph *g, const ptl_meta *meta, uint8_t **data_out,
                            size_t *size_out);

/* Parses a .ptl image. Constants become tensors that borrow `data` (which must
 * stay valid and unchanged for the graph's lifetime; `keepalive` is retained by
 * each constant's storage through retain/release callbacks when non-NULL). */
typedef struct ptl_format_owner {
  void (*retain)(void *ctx);
  void (*release)(void *ctx);
  void *ctx;
} ptl_format_owner;

ptl_status ptl_format_read(const uint8_t *data, size_t size, const ptl_format_owner *owner,
                           ptl_graph **graph_out, ptl_meta *meta_out);

#endif /* PTLITE_FORMAT_H */
