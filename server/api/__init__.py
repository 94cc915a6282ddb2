"""The HTTP layer: routes, problem documents, OpenAPI, file responses and middleware. The only
package that knows Starlette; everything below it is called with plain values."""
