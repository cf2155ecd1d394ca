/*  chat_handlers: one function per client event of chat-svc, and the dispatcher the
    service runtime calls. The one thing to know: handlers run inside the batch's
    transaction and reply through the runtime's outbox (sent after COMMIT). */
#ifndef CHAT_HANDLERS_H
#define CHAT_HANDLERS_H

#include "pl_service.h"

int chat_handle(void *app, pl_service_t *svc, const proto_request_t *req);
int64_t chat_order_key(const proto_request_t *req);

#endif
