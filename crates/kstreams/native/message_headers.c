/*
 * Whether a consumed librdkafka message carries any header, without parsing them.
 *
 * rd_kafka_message_headers() parses a consumed record's headers on first access, and
 * for a record with none it still allocates and zeroes a shadow buffer (calloc), reads
 * the header count (zero) and frees the buffer: about 8% of a stateless stream thread's
 * time when no record has headers. The count is the first thing in the record's header
 * bytes, a zigzag varint, so a first byte of zero means no headers, and any other
 * value sends the caller to rd_kafka_message_headers() as before.
 *
 * Compiled by build.rs against the private headers of the very librdkafka that
 * rdkafka-sys builds and links, so the struct layout read here is that library's.
 */
#include "rdkafka_int.h"
#include "rdkafka_msg.h"

int kstreams_rd_message_may_have_headers(const rd_kafka_message_t *rkmessage) {
        const rd_kafka_msg_t *rkm =
            rd_kafka_message2msg((rd_kafka_message_t *)rkmessage);

        if (rkm->rkm_headers)
                return 1;
        if (rkm->rkm_flags & RD_KAFKA_MSG_F_PRODUCER)
                return 0;
        if (RD_KAFKAP_BYTES_LEN(&rkm->rkm_u.consumer.binhdrs) <= 0)
                return 0;
        return ((const unsigned char *)rkm->rkm_u.consumer.binhdrs.data)[0] != 0;
}
