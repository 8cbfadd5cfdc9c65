/* Internal to src/core/config*.c: the key table's types and the helpers the config files share.
 * config_keys.c: the key table and what each key accepts; config_parse.c: parsing one value;
 * config_validate.c: per-key and cross-key validation; config.c: the INI reader, --set, defaults,
 * the writer. A new key is one row in config_keys.c (plus its default in config.c and, if it
 * constrains other keys, a check in config_validate.c). */
#ifndef CLVAE_CONFIG_INTERNAL_H
#define CLVAE_CONFIG_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "clvae/config.h"

#define MAX_WIDTH 65536
#define VALUE_MAX 4096

/* K_GROUPS: encoder / decoder item lists, K_ITEM: decoder_out (config_net.c).
 * K_ENUMS: a comma list of K_ENUM choices (aux: count field); K_GXK: "GxK" into int[2]. */
typedef enum {
    K_STR, K_INT, K_LONG, K_U64, K_DBL, K_BOOL, K_ENUM, K_LIST, K_GROUPS, K_ENUMS, K_GXK, K_ITEM
} key_type;

/* Ranges of categorical = GxK. */
#define CLVAE_MAX_GROUPS 65536
#define CLVAE_MAX_CATS 256

/* Range flags of numeric keys. */
enum { R_LO = 1, R_LO_OPEN = 2, R_HI = 4, R_HI_OPEN = 8 };

typedef struct key_spec {
    const char *section;
    const char *key;
    key_type type;
    size_t off; /* offset of the field in clvae_config */
    size_t aux; /* K_STR: buffer size; K_LIST, K_GROUPS: offset of the count field */
    int range;  /* R_* flags (numbers) */
    double lo, hi;
    const char *const *names; /* K_ENUM choices; K_BOOL: {false-name, true-name} or NULL */
    const char *comment;      /* written above the key by clvae_config_write */
} key_spec;

extern const key_spec clvae_cfg_keys[];
extern const size_t clvae_cfg_n_keys;
extern const char *const clvae_cfg_section_names[];

void *clvae_cfg_field(const clvae_config *cfg, size_t off);
int clvae_cfg_name_index(const char *const *names, const char *v);
int clvae_cfg_names_count(const char *const *names);
void clvae_cfg_join_names(const char *const *names, const char *sep, char *buf, size_t size);
const key_spec *clvae_cfg_find_key(const char *section, const char *key);
void clvae_cfg_list_keys(const char *section, char *buf, size_t size);
void clvae_cfg_describe(const key_spec *ks, char *buf, size_t size);
int clvae_cfg_in_range(const key_spec *ks, double v);
char *clvae_cfg_trim(char *s);
int clvae_cfg_apply_value(clvae_config *cfg, const key_spec *ks, const char *raw, char *why,
                          size_t why_size);
void clvae_cfg_format_value(const clvae_config *cfg, const key_spec *ks, char *buf, size_t size);
/* K_ENUMS and K_GXK (config_latent.c), and the categorical layers' cross-key checks. */
int clvae_cfg_parse_latent(clvae_config *cfg, const key_spec *ks, const char *v);
void clvae_cfg_format_latent(const clvae_config *cfg, const key_spec *ks, char *buf, size_t size);
int clvae_cfg_latent_valid(const clvae_config *cfg, const key_spec *ks);
int clvae_cfg_validate_latent(const clvae_config *cfg);
/* Encoder / decoder items and decoder_out (config_net.c): parsers write a reason into why. */
int clvae_cfg_parse_groups(const char *v, clvae_widths *groups, int *n_out, char *why, size_t n);
int clvae_cfg_parse_out_item(const char *v, clvae_item *out, char *why, size_t n);
void clvae_cfg_format_item(const clvae_item *it, int width, char *buf, size_t size);
int clvae_cfg_item_valid(const clvae_item *it, int width, bool out_item);
int clvae_cfg_validate_net(const clvae_config *cfg);
/* "64x7x7" -> {64, 7, 7}: 0, or -1 when it is not three positive sizes joined by x. */
int clvae_parse_view(const char *v, int d[3]);

#endif
