/** A workflow's webhooks and their deliveries, as the API shows them. */
import { type Static, Type } from 'typebox';

export const HookSchema = Type.Object({
  id: Type.String(),
  workflowId: Type.String(),
  name: Type.String(),
  kind: Type.Union([Type.Literal('generic'), Type.Literal('github')]),
  url: Type.String({ description: 'Where deliveries go: POST, signed with the secret.' }),
  createdBy: Type.String(),
  createdAt: Type.String(),
});

export const DeliverySchema = Type.Object({
  id: Type.String(),
  hookId: Type.String(),
  receivedAt: Type.String(),
  outcome: Type.Union([
    Type.Literal('accepted'),
    Type.Literal('ignored'),
    Type.Literal('duplicate'),
    Type.Literal('rejected'),
  ]),
  httpStatus: Type.Integer(),
  deliveryId: Type.Union([Type.String(), Type.Null()], {
    description: "GitHub's X-GitHub-Delivery (GitHub hooks).",
  }),
  sourceEvent: Type.Union([Type.String(), Type.Null()], {
    description: "GitHub's X-GitHub-Event (GitHub hooks).",
  }),
  eventType: Type.Union([Type.String(), Type.Null()]),
  eventId: Type.Union([Type.String(), Type.Null()]),
  detail: Type.String(),
});

export type HookView = Static<typeof HookSchema>;
export type HookKind = HookView['kind'];
export type HookDeliveryView = Static<typeof DeliverySchema>;
