// The API reference: Swagger UI (vendored) over the schema, read with this browser's token.
"use strict";

(async () => {
  try {
    const spec = await V.api("/openapi.json");
    SwaggerUIBundle({
      spec,
      dom_id: "#swagger",
      // "Try it out" requests carry the same token as the rest of the UI.
      requestInterceptor: (request) => {
        const token = localStorage.getItem("valenceToken");
        if (token) request.headers.Authorization = `Bearer ${token}`;
        return request;
      },
    });
  } catch (error) {
    V.showMessage(`Cannot load the API schema: ${error.message}`);
  }
})();
